// The status page's script: polls the daemon's JSON API (same origin only,
// with the token the page was opened with) and draws the header, SVG
// charts and tables. No libraries, no other host.
'use strict';
(() => {
  const REFRESH_MS = 5000;
  const CONFIG_REFRESH_MS = 60000;
  const SVG = 'http://www.w3.org/2000/svg';
  const token = new URLSearchParams(location.search).get('token');
  const headers = token ? { Authorization: 'Bearer ' + token } : {};
  const $ = (id) => document.getElementById(id);
  let range = 'hour';
  let auth = new Map();
  let configAt = -Infinity;
  let lastHistory = null;

  async function get(path) {
    const r = await fetch(path, { headers, cache: 'no-store', credentials: 'omit' });
    if (!r.ok) {
      let msg = r.status + ' ' + r.statusText;
      try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
      throw new Error(path + ': ' + msg);
    }
    return r.json();
  }

  // ---- formatting ----
  const MINUS = '\u2212';
  function signed(s, v) { return (v < 0 ? MINUS : v > 0 ? '+' : '') + s; }
  function unitOf(maxAbs) {
    if (maxAbs >= 1) return [1, 's'];
    if (maxAbs >= 1e-3) return [1e3, 'ms'];
    if (maxAbs >= 1e-6) return [1e6, '\u00b5s'];
    return [1e9, 'ns'];
  }
  function num(v, digits) {
    const a = Math.abs(v);
    const d = digits !== undefined ? digits : a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
    return a.toFixed(d);
  }
  function seconds(v, withSign) {
    if (v === null || v === undefined || !isFinite(v)) return '–';
    if (v === 0) return '0 s';
    const [m, u] = unitOf(Math.abs(v));
    const s = num(v * m) + ' ' + u;
    return withSign ? signed(s, v) : (v < 0 ? MINUS : '') + s;
  }
  function ppm(v) { return isFinite(v) ? signed(num(v, 3), v) + ' ppm' : '–'; }
  function rate(v) { return isFinite(v) ? (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + '/s' : '–'; }
  function duration(s) {
    if (s === null || s === undefined || !isFinite(s)) return '–';
    s = Math.max(0, Math.round(s));
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d) return d + 'd ' + h + 'h';
    if (h) return h + 'h ' + m + 'm';
    if (m) return m + 'm ' + (s % 60) + 's';
    return s + 's';
  }
  function count(n) { return Number(n).toLocaleString('en-US'); }
  const LEAP = ['none', '+1 s tonight', MINUS + '1 s tonight', 'unknown'];

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // A tile's value; a trailing unit (after the last space) is set smaller.
  function setText(id, text, bad, withUnit) {
    const e = $(id);
    const cut = withUnit ? text.lastIndexOf(' ') : -1;
    if (cut > 0) {
      e.replaceChildren(text.slice(0, cut), el('small', '', text.slice(cut)));
    } else {
      e.textContent = text;
    }
    e.title = text;
    e.classList.toggle('bad', !!bad);
  }

  // ---- header ----
  function renderStatus(s) {
    $('version').textContent = s.version;
    $('listen').textContent = s.listen.length ? ' Serving NTP on ' + s.listen.join(', ') + '.' : '';
    const usable = s.sources_selectable + ' of ' + s.sources_total;
    let title, why, dot;
    switch (s.mode) {
      case 'synchronised':
        title = 'Synchronised';
        why = 'to ' + s.reference_id + ' at stratum ' + s.stratum + ' · ' + usable + ' sources usable · ' + s.discipline + ' clock';
        dot = s.health.state;
        break;
      case 'local_reference':
        title = 'Serving the local clock';
        why = 'no upstream source is configured: local reference at stratum ' + s.stratum;
        dot = s.health.state === 'ok' ? 'local' : s.health.state;
        break;
      case 'local_fallback':
        title = 'Local fallback';
        why = 'no source is usable (' + usable + '): serving [server.local] at stratum ' + s.stratum;
        dot = 'warning';
        break;
      default:
        title = 'Not synchronised';
        why = s.sources_total === 0 ? 'no usable time' : 'no source selected (' + usable + ' usable): replies carry leap 3 and clients ignore them';
        dot = 'critical';
    }
    $('sync-state').textContent = title;
    $('sync-why').textContent = why;
    $('reload-error').textContent = s.last_reload_error ? 'The last configuration reload was refused: ' + s.last_reload_error : '';
    $('sync-dot').className = 'dot ' + dot;
    const pill = $('health-pill');
    pill.textContent = 'health: ' + s.health.state;
    pill.className = 'pill ' + s.health.state;
    const ul = $('health-reasons');
    ul.replaceChildren(...s.health.reasons.map((r) => el('li', '', r)));
    setText('t-stratum', s.stratum === 0 ? '– (unsynchronised)' : String(s.stratum), s.stratum === 0);
    setText('t-reference', s.reference_id);
    setText('t-offset', seconds(s.offset_seconds, true), false, true);
    setText('t-jitter', seconds(s.jitter_seconds), false, true);
    setText('t-frequency', ppm(s.frequency_ppm), false, true);
    setText('t-leap', LEAP[s.leap] || String(s.leap), s.leap === 3);
    setText('t-sources', s.sources_selectable + '/' + s.sources_total + ' usable', s.sources_total > 0 && s.sources_selectable === 0);
    setText('t-uptime', duration(s.uptime_seconds));
    if (s.last_reload_error) {
      setText('t-reload', 'refused: ' + s.last_reload_error, true);
    } else {
      setText('t-reload', s.reloads ? 'ok (' + s.reloads + ' in all)' : 'none yet');
    }
  }

  // ---- tables ----
  function hostOf(address) {
    if (address.startsWith('[')) return address.slice(1, address.indexOf(']'));
    const colons = address.split(':').length - 1;
    return colons === 1 ? address.slice(0, address.indexOf(':')) : address;
  }
  function learnAuth(config) {
    const m = new Map();
    const servers = (config.sources && config.sources.servers) || [];
    for (const s of servers) {
      const label = s.nts ? 'NTS' : (s.key !== null && s.key !== undefined) ? 'key ' + s.key : 'none';
      // By the address as written (host:port), and by host for a source whose
      // configured port is implied or whose name was resolved.
      m.set(String(s.address), label);
      if (!m.has(hostOf(String(s.address)))) m.set(hostOf(String(s.address)), label);
    }
    auth = m;
  }
  function reachBits(r) {
    const span = el('span', 'reach');
    span.title = 'reach ' + r.toString(8) + ' (octal): newest poll on the right';
    for (let i = 7; i >= 0; i--) span.append(el('b', (r >> i) & 1 ? 'on' : ''));
    return span;
  }
  function cell(text, numeric) { return el('td', numeric ? 'n' : '', text); }
  function renderSources(doc) {
    const rows = doc.sources.map((s) => {
      const tr = el('tr');
      tr.dataset.state = s.state;
      const st = el('td');
      st.append(el('span', 'pill ' + s.state, s.state));
      const reach = el('td');
      reach.append(reachBits(s.reachability));
      tr.append(
        st, cell(s.name), cell(s.address || '–'), cell(s.stratum ? String(s.stratum) : '–', true), reach,
        cell(s.poll_seconds ? duration(s.poll_seconds) : '–', true), cell(seconds(s.offset_seconds, true), true),
        cell(seconds(s.delay_seconds), true), cell(seconds(s.jitter_seconds), true),
        cell(s.last_response_seconds_ago === null ? '–' : duration(s.last_response_seconds_ago) + ' ago', true),
        cell(s.refclock || s.last_response_seconds_ago === null ? '–' : (s.interleaved ? 'interleaved' : 'basic')),
        cell(auth.get(s.address) || auth.get(s.name) || 'none'),
      );
      return tr;
    });
    $('sources').tBodies[0].replaceChildren(...rows);
    $('sources-note').textContent = doc.sources.length ? '' : 'No upstream source is configured: this daemon is its own reference.';
  }
  function renderClients(doc) {
    const rows = doc.clients.map((c) => {
      const tr = el('tr');
      tr.append(cell(c.address), cell(count(c.requests), true), cell(count(c.dropped), true),
        cell(duration(c.last_seen_seconds_ago) + ' ago', true));
      return tr;
    });
    $('clients').tBodies[0].replaceChildren(...rows);
    $('clients-note').textContent = doc.clients.length
      ? count(doc.tracked) + ' distinct clients in the log (capacity ' + count(doc.capacity) + ')'
      : 'No client has asked for the time yet.';
  }
  function renderServer(doc) {
    const dl = $('server');
    const items = [
      ['Requests received', count(doc.received)], ['Replies sent', count(doc.replied)],
      ['Dropped', count(doc.dropped_total)],
    ];
    for (const [reason, n] of Object.entries(doc.dropped)) {
      if (n > 0) items.push([reason.replace(/_/g, ' '), count(n), 'sub']);
    }
    items.push(['Kiss-o\u2019-death sent', count(doc.kod_sent)], ['MAC-authenticated replies', count(doc.authenticated)],
      ['NTS replies', count(doc.nts_replied)],
      ['NTS-KE handshakes', count(doc.nts_ke_handshakes) + ' (' + count(doc.nts_ke_failures) + ' failed)'],
      ['Send / receive errors', count(doc.send_errors) + ' / ' + count(doc.receive_errors)]);
    const nodes = [];
    for (const [k, v, cls] of items) nodes.push(el('dt', cls || '', k), el('dd', cls || '', v));
    dl.replaceChildren(...nodes);
  }

  // ---- charts ----
  function svgEl(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function niceStep(span, ticks) {
    const raw = span / ticks;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / p;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
  }
  function clock(t, withSeconds) {
    const d = new Date(t * 1000);
    const two = (n) => String(n).padStart(2, '0');
    return two(d.getHours()) + ':' + two(d.getMinutes()) + (withSeconds ? ':' + two(d.getSeconds()) : '');
  }

  // Draws `series` ({label, values, cls, main}) against `h.time` into the
  // figure; `fmt` formats a y value given the largest absolute tick.
  function drawChart(fig, h, series, fmt, opts) {
    const svg = fig.querySelector('svg');
    const legend = fig.querySelector('.legend');
    const W = Math.max(240, svg.clientWidth || 600), H = Math.max(120, svg.clientHeight || 190);
    const L = 62, R = 10, T = 8, B = 22;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    const nodes = [];
    const times = h.time;
    // The whole window once it is full; until then the time the data
    // covers (a fresh daemon's minute would be a sliver of an hour).
    const t1 = times.length ? times[times.length - 1] : Date.now() / 1000;
    const known = times.length ? t1 - times[0] : 0;
    const span = Math.min(h.interval_seconds * h.capacity, Math.max(known, 6 * h.interval_seconds));
    const t0 = t1 - span;
    const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0 || 1);
    let lo = Infinity, hi = -Infinity, points = 0;
    for (const s of series) for (const v of s.values) if (v !== null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); points++; }
    if (opts.zero) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
    if (!points) { lo = 0; hi = 1; }
    if (hi - lo <= Math.abs(hi) * 1e-9) { const pad = Math.abs(hi) * 0.1 || opts.flat; lo -= pad; hi += pad; }
    const step = niceStep(hi - lo, 4);
    lo = Math.floor(lo / step) * step;
    hi = Math.ceil(hi / step) * step;
    const y = (v) => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
    const maxAbs = Math.max(Math.abs(lo), Math.abs(hi));
    for (let v = lo; v <= hi + step / 2; v += step) {
      const yy = y(v);
      const isZero = Math.abs(v) < step / 1e6;
      nodes.push(svgEl('line', { x1: L, x2: W - R, y1: yy, y2: yy, class: isZero && opts.zero ? 'zero' : 'gridline' }));
      nodes.push(svgEl('text', { x: L - 6, y: yy + 4, 'text-anchor': 'end', class: 'axis' }, fmt(isZero ? 0 : v, maxAbs, step)));
    }
    const tickEvery = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600]
      .find((s) => span / s <= Math.max(3, (W - L - R) / 90)) || 21600;
    for (let t = Math.ceil(t0 / tickEvery) * tickEvery; t <= t1; t += tickEvery) {
      if (x(t) - L < 26 || W - R - x(t) < 22) continue; // clear of the y labels and the edge
      nodes.push(svgEl('line', { x1: x(t), x2: x(t), y1: T, y2: H - B, class: 'gridline' }));
      nodes.push(svgEl('text', { x: x(t), y: H - 6, 'text-anchor': 'middle', class: 'axis' }, clock(t, tickEvery < 60)));
    }
    if (opts.unsync) {
      for (let i = 0; i < times.length; i++) {
        if (h.stratum[i] === 0) {
          const a = x(times[i] - h.interval_seconds), b = x(times[i]);
          nodes.push(svgEl('rect', { x: Math.max(L, a), y: T, width: Math.max(1, b - Math.max(L, a)), height: H - T - B, class: 'unsync' }));
        }
      }
    }
    const gap = h.interval_seconds * 2.5;
    series.forEach((s) => {
      let d = '', n = 0, prevT = null;
      const singles = [];
      s.values.forEach((v, i) => {
        if (v === null || !isFinite(v)) { prevT = null; return; }
        const t = times[i];
        const cmd = prevT === null || t - prevT > gap ? 'M' : 'L';
        if (cmd === 'M') singles.push([t, v]);
        d += cmd + x(t).toFixed(1) + ' ' + y(v).toFixed(1);
        n++;
        prevT = t;
      });
      const path = svgEl('path', { d: d || 'M0 0', class: 'series ' + s.cls + (s.main ? ' main' : '') });
      path.dataset.series = s.label;
      path.dataset.points = String(n);
      nodes.push(path);
      // A point with no neighbour would be invisible as a line: mark it.
      for (const [t, v] of singles) nodes.push(svgEl('circle', { cx: x(t), cy: y(v), r: 2.5, class: s.cls }));
    });
    if (!points) {
      nodes.push(svgEl('text', { x: (L + W - R) / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' },
        range === 'hour' ? 'collecting: a sample every ' + h.interval_seconds + ' s' : 'collecting: a point every 5 minutes'));
    }
    const cursor = svgEl('g', {});
    nodes.push(cursor);
    svg.replaceChildren(...nodes);
    svg.dataset.points = String(points);
    legend.replaceChildren(...series.map((s) => {
      const span = el('span');
      span.append(el('i', s.cls), document.createTextNode(s.label));
      return span;
    }));
    // Pointer read-out: the values at the nearest sample.
    svg.onpointermove = (ev) => {
      if (!times.length) return;
      const box = svg.getBoundingClientRect();
      const px = (ev.clientX - box.left) * W / box.width;
      let best = 0;
      for (let i = 1; i < times.length; i++) if (Math.abs(x(times[i]) - px) < Math.abs(x(times[best]) - px)) best = i;
      const lines = [clock(times[best], true)];
      for (const s of series) {
        const v = s.values[best];
        if (v !== null && isFinite(v)) lines.push(s.label + ' ' + fmt(v, Math.abs(v)));
      }
      const cx = x(times[best]);
      const boxW = 12 + 6.3 * Math.max(...lines.map((l) => l.length));
      const bx = cx + 8 + boxW > W ? cx - 8 - boxW : cx + 8;
      cursor.replaceChildren(
        svgEl('line', { x1: cx, x2: cx, y1: T, y2: H - B, class: 'cursor' }),
        svgEl('rect', { x: bx, y: T, width: boxW, height: 8 + 14 * lines.length, rx: 4, class: 'tipbox' }),
        ...lines.map((l, i) => svgEl('text', { x: bx + 6, y: T + 16 + 14 * i, class: 'tip' }, l)),
      );
    };
    svg.onpointerleave = () => cursor.replaceChildren();
  }

  // Axis and read-out labels: the unit follows the largest value on the
  // axis, the decimals the tick step (or 3 significant digits without one).
  function decimals(step, scale, v) {
    if (step) return Math.min(3, Math.max(0, Math.ceil(-Math.log10(step * scale) - 1e-9)));
    const a = Math.abs(v * scale);
    return a >= 100 || a === 0 ? 0 : a >= 10 ? 1 : 2;
  }
  function fmtSeconds(v, maxAbs, step) {
    if (v === 0) return '0';
    const [m, u] = unitOf(maxAbs || Math.abs(v));
    return (v < 0 ? MINUS : '') + Math.abs(v * m).toFixed(decimals(step, m, v)) + ' ' + u;
  }
  function fmtPpm(v, maxAbs, step) {
    return (v < 0 ? MINUS : '') + Math.abs(v).toFixed(step ? decimals(step, 1, v) : 3) + ' ppm';
  }
  function fmtRate(v, maxAbs, step) { return Math.abs(v).toFixed(decimals(step, 1, v)) + '/s'; }

  function renderHistory(h) {
    lastHistory = h;
    const sources = h.sources.map((s, i) => ({
      label: s.address ? s.name + (s.address.startsWith(s.name) ? s.address.slice(s.name.length) : ' (' + s.address + ')') : s.name,
      values: s.offset_seconds, cls: 's' + ((i + 1) % 9),
    }));
    drawChart($('chart-offset'), h, [{ label: 'system', values: h.offset_seconds, cls: 's0', main: true }, ...sources],
      fmtSeconds, { zero: true, unsync: true, flat: 1e-6 });
    drawChart($('chart-jitter'), h, [{ label: 'jitter', values: h.jitter_seconds, cls: 's0', main: true }], fmtSeconds,
      { zero: true, flat: 1e-6 });
    drawChart($('chart-frequency'), h, [{ label: 'frequency', values: h.frequency_ppm, cls: 's4', main: true }], fmtPpm,
      { zero: true, flat: 1 });
    const drops = Object.entries(h.dropped_per_second).map(([reason, values], i) => ({
      label: 'dropped: ' + reason.replace(/_/g, ' '), values, cls: 's' + ((i + 1) % 9),
    }));
    drawChart($('chart-traffic'), h, [{ label: 'requests', values: h.requests_per_second, cls: 's2', main: true }, ...drops],
      fmtRate, { zero: true, flat: 1 });
  }

  // ---- refresh loop ----
  async function refresh() {
    try {
      const now = performance.now();
      if (now - configAt > CONFIG_REFRESH_MS) {
        learnAuth(await get('api/v1/config'));
        configAt = now;
      }
      const [status, sources, clients, server, history] = await Promise.all([
        get('api/v1/status'), get('api/v1/sources'), get('api/v1/clients?limit=10'),
        get('api/v1/serverstats'), get('api/v1/history?range=' + range),
      ]);
      renderStatus(status);
      renderSources(sources);
      renderClients(clients);
      renderServer(server);
      renderHistory(history);
      $('error').hidden = true;
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
      document.body.dataset.loaded = 'true';
    } catch (e) {
      const err = $('error');
      err.textContent = 'Cannot read the daemon\u2019s API (' + e.message + '); retrying every ' + REFRESH_MS / 1000 + ' s.';
      err.hidden = false;
    }
  }
  async function loop() {
    await refresh();
    setTimeout(loop, REFRESH_MS);
  }

  for (const b of document.querySelectorAll('.seg button')) {
    b.addEventListener('click', async () => {
      range = b.dataset.range;
      for (const o of document.querySelectorAll('.seg button')) o.setAttribute('aria-pressed', String(o === b));
      try { renderHistory(await get('api/v1/history?range=' + range)); } catch (_) { /* next refresh reports it */ }
    });
  }
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (lastHistory) renderHistory(lastHistory); }, 150);
  });
  loop();
})();
