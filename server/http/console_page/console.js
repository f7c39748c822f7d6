// Vigil's alarm console: plain JavaScript, no build step. The token lives in
// this tab's sessionStorage and goes in the Authorization header of every
// request, never in a URL. The live list comes from the alarm stream
// (Server-Sent Events read with fetch(), which can send that header; the
// browser's EventSource cannot): a snapshot, then every journal event with
// its seq as the SSE id. After a drop the page reconnects with Last-Event-ID
// set to the last seq it saw, so it resumes with no gap and no duplicate.
'use strict';

const SEVERITY_WORD = { 1: 'red', 2: 'orange', 3: 'yellow', 4: 'blue' };
const STATE_WORD = {
  active_unacked: 'active, unacknowledged',
  active_acked: 'active, acknowledged',
  cleared_unacked: 'cleared, unacknowledged',
  closed: 'closed',
};

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem('vigil.token') || '',
  session: null,
  alarms: new Map(),  // alarm_id -> alarm
  lastSeq: null,      // the last SSE id seen: where a reconnect resumes
  abort: null,
  connected: false,
  lastData: 0,
  detailId: null,
  trend: null,        // the detail view's Dygraph
};

// ---- HTTP ----

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: 'Bearer ' + state.token }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers, cache: 'no-store' }));
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401) {
    signOut('Your token was refused: ' + (body && body.error ? body.error : 'unauthenticated'));
    throw new Error('unauthenticated');
  }
  if (!response.ok) throw new Error(body && body.error ? body.error : 'HTTP ' + response.status);
  return body;
}

function post(path, body) {
  return api(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

// ---- Sign in and out ----

async function signIn(token) {
  state.token = token;
  const session = await api('/api/v1/console/session');
  state.session = session;
  sessionStorage.setItem('vigil.token', token);
  $('who').textContent = session.identity + ' · ' + session.role +
      ' · region ' + (session.region_prefix || 'national');
  $('sign-in').hidden = true;
  $('console').hidden = false;
  $('sign-out').hidden = false;
  document.body.classList.toggle('may-act', !!session.may_act);
  connect();
  loadKpis().catch(() => {});
}

function signOut(message) {
  sessionStorage.removeItem('vigil.token');
  state.token = '';
  state.session = null;
  if (state.abort) state.abort.abort();
  state.abort = null;
  state.alarms.clear();
  state.lastSeq = null;
  $('console').hidden = true;
  $('sign-out').hidden = true;
  $('sign-in').hidden = false;
  $('who').textContent = '';
  $('banner').hidden = true;
  $('sign-in-error').textContent = message || '';
}

// ---- The alarm stream ----

function setConnected(connected, why) {
  state.connected = connected;
  const banner = $('banner');
  if (connected) {
    banner.hidden = true;
  } else {
    banner.hidden = false;
    banner.textContent = 'Disconnected from vigild' + (why ? ' (' + why + ')' : '') +
        ' — reconnecting; the list may be out of date.';
  }
}

async function connect() {
  if (!state.session) return;
  const abort = new AbortController();
  state.abort = abort;
  const headers = { Authorization: 'Bearer ' + state.token, Accept: 'text/event-stream' };
  if (state.lastSeq !== null) headers['Last-Event-ID'] = String(state.lastSeq);
  let why = 'connection ended';
  try {
    const response = await fetch('/api/v1/alarms/stream', { headers, signal: abort.signal, cache: 'no-store' });
    if (response.status === 401) { signOut('Your token was refused.'); return; }
    if (!response.ok) throw new Error('HTTP ' + response.status);
    state.lastData = Date.now();
    setConnected(true);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      state.lastData = Date.now();
      buffer += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        dispatch(block);
      }
    }
  } catch (e) {
    why = e.name === 'AbortError' ? 'no heartbeat' : e.message;
  }
  if (state.abort !== abort || !state.session) return;  // signed out or replaced
  setConnected(false, why);
  setTimeout(() => { if (state.abort === abort) connect(); }, 1000);
}

// One SSE message: "event:", "id:" and "data:" lines.
function dispatch(block) {
  let event = 'message';
  let id = null;
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  const payload = data.length ? JSON.parse(data.join('\n')) : null;
  if (event === 'snapshot') {
    // Where this list started and how many events followed: with no gap and
    // no duplicate, events == last seq - snapshot seq (in a national scope).
    document.body.dataset.snapshotSeq = String(payload.seq);
    document.body.dataset.events = '0';
    state.alarms.clear();
    for (const alarm of payload.alarms) state.alarms.set(alarm.alarm_id, alarm);
    render();
  } else if (event === 'alarm') {
    document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1);
    const alarm = payload.alarm;
    if (payload.kind === 'raised' && alarm.severity === 1) beep();
    if (alarm.state === 'closed') state.alarms.delete(alarm.alarm_id);
    else state.alarms.set(alarm.alarm_id, Object.assign(alarm, { fresh: payload.kind === 'raised' }));
    scheduleRender();
    if (state.detailId === alarm.alarm_id) showDetail(alarm.alarm_id);
  } else if (event === 'resync') {
    // The resume point is gone: start over from a snapshot.
    state.lastSeq = null;
    id = null;
  }
  if (id !== null) {
    state.lastSeq = Number(id);
    document.body.dataset.lastSeq = id;
  }
}

// A short tone for a new red alarm, when the officer asked for sound (the
// browser allows audio once the page was interacted with: the checkbox).
let audio = null;
function beep() {
  if (!$('f-sound').checked) return;
  audio = audio || new AudioContext();
  const tone = audio.createOscillator();
  const gain = audio.createGain();
  tone.frequency.value = 880;
  gain.gain.value = 0.2;
  tone.connect(gain).connect(audio.destination);
  tone.start();
  tone.stop(audio.currentTime + 0.4);
}

// A stream silent for three heartbeats is dead even if TCP has not noticed.
setInterval(() => {
  if (state.session && state.connected && Date.now() - state.lastData > 15000 && state.abort) {
    state.abort.abort();
  }
}, 1000);

// ---- The list ----

// Events come in bursts (a flood is hundreds a second): the list is drawn
// at most once per frame, not once per event.
let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => { renderPending = false; render(); });
}

function severityBadge(severity) {
  const word = SEVERITY_WORD[severity] || String(severity);
  const span = document.createElement('span');
  span.className = 'sev sev-' + word;
  span.textContent = word.toUpperCase();
  return span;
}

function formatDuration(ms) {
  if (ms < 0) ms = 0;
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return h + 'h ' + String(m).padStart(2, '0') + 'm';
  if (m > 0) return m + 'm ' + String(sec).padStart(2, '0') + 's';
  return sec + 's';
}

const localTime = (ms) => (ms ? new Date(ms).toLocaleString() : '');
const isShelved = (a) => a.shelved_until_ms > Date.now();
const unit = (a) => (a.sensor_unit ? ' ' + a.sensor_unit : '');

function shown() {
  const minSeverity = Number($('f-severity').value);
  const stateFilter = $('f-state').value;
  const kind = $('f-kind').value;
  const region = $('f-region').value.trim();
  const list = [...state.alarms.values()].filter((a) => {
    if (a.peak_severity > minSeverity) return false;
    if (kind && a.enterprise_kind !== kind) return false;
    if (region && !a.region_code.startsWith(region)) return false;
    if (stateFilter === 'unacked' && !a.state.endsWith('unacked')) return false;
    if (stateFilter === 'acked' && a.state !== 'active_acked') return false;
    if (stateFilter === 'shelved' && !isShelved(a)) return false;
    return true;
  });
  const sort = $('f-sort').value;
  list.sort((x, y) => {
    if (sort === 'severity' && x.severity !== y.severity) return x.severity - y.severity;
    if (sort === 'oldest') return x.raised_at_ms - y.raised_at_ms;
    return y.raised_at_ms - x.raised_at_ms;
  });
  return list;
}

function cell(row, text, className) {
  const td = row.insertCell();
  if (text instanceof Node) td.appendChild(text);
  else td.textContent = text;
  if (className) td.className = className;
  return td;
}

function render() {
  const body = $('alarms').tBodies[0];
  const list = shown();
  body.replaceChildren();
  for (const a of list) {
    const row = body.insertRow();
    row.dataset.alarmId = a.alarm_id;
    row.className = (a.state.endsWith('unacked') ? 'unacked' : '') + (isShelved(a) ? ' shelved' : '') +
        (a.fresh ? ' fresh' : '');
    a.fresh = false;
    cell(row, severityBadge(a.severity));
    cell(row, (STATE_WORD[a.state] || a.state) + (isShelved(a) ? ', shelved' : ''), 'state');
    cell(row, a.enterprise_name || a.enterprise_id);
    cell(row, a.sensor_id ? (a.sensor_quantity ? a.sensor_quantity + ' · ' : '') + a.sensor_id
                          : 'gateway ' + a.gateway_id);
    cell(row, a.trigger_value !== undefined ? a.trigger_value + unit(a) : '', 'num');
    cell(row, a.kind === 'threshold' ? a.level + ' ' + a.threshold + unit(a) : a.kind, 'num');
    cell(row, localTime(a.raised_at_ms));
    cell(row, a.state.startsWith('active') ? formatDuration(Date.now() - a.raised_at_ms) : '', 'num active-for')
        .dataset.raised = a.raised_at_ms;
    const actions = cell(row, '');
    if (state.session && state.session.may_act && a.state.endsWith('unacked')) {
      const ack = document.createElement('button');
      ack.type = 'button';
      ack.className = 'ack';
      ack.textContent = 'Acknowledge';
      ack.addEventListener('click', (e) => { e.stopPropagation(); acknowledge(a.alarm_id, ack); });
      actions.appendChild(ack);
    }
    const more = document.createElement('button');
    more.type = 'button';
    more.textContent = 'Detail';
    more.addEventListener('click', () => showDetail(a.alarm_id));
    actions.appendChild(more);
  }
  $('empty').hidden = list.length > 0;
  $('count').textContent = list.length + ' of ' + state.alarms.size + ' open alarms';
}

// Active durations tick without re-rendering the list.
setInterval(() => {
  for (const td of document.querySelectorAll('td.active-for')) {
    if (td.textContent) td.textContent = formatDuration(Date.now() - Number(td.dataset.raised));
  }
}, 1000);

// ---- Actions ----

async function acknowledge(alarmId, button) {
  if (button) button.disabled = true;
  try {
    await post('/api/v1/alarms/acknowledge', { alarm_id: alarmId });
    // The stream brings the acknowledged state.
  } catch (e) {
    alert('Could not acknowledge alarm ' + alarmId + ': ' + e.message);
    if (button) button.disabled = false;
  }
}

async function shelve(alarmId, reason, minutes) {
  await post('/api/v1/alarms/shelve', { alarm_id: alarmId, reason, duration_ms: Math.round(minutes * 60000) });
}

// ---- Detail ----

async function showDetail(alarmId) {
  state.detailId = alarmId;
  const dialog = $('detail');
  $('d-error').textContent = '';
  let detail;
  try {
    detail = await api('/api/v1/alarms/detail?alarm_id=' + encodeURIComponent(alarmId));
  } catch (e) {
    $('d-error').textContent = e.message;
    if (!dialog.open) dialog.showModal();
    return;
  }
  const a = detail.alarm;
  $('d-title').replaceChildren(severityBadge(a.severity),
      document.createTextNode(' ' + (a.enterprise_name || a.enterprise_id) + ' — ' +
                              (a.sensor_id || 'gateway ' + a.gateway_id)));
  const fields = [
    ['Alarm', a.alarm_id + ' (' + a.kind + (a.level !== 'none' ? ', ' + a.level : '') + ')'],
    ['State', (STATE_WORD[a.state] || a.state) + (isShelved(a) ? ', shelved until ' + localTime(a.shelved_until_ms) : '')],
    ['Quantity', (a.sensor_quantity || '') + unit(a)],
    ['Threshold', a.threshold + unit(a)],
    ['Value that raised it', a.trigger_value !== undefined ? a.trigger_value + unit(a) : '—'],
    ['Peak', a.peak_value + unit(a)],
    ['Raised', localTime(a.raised_at_ms)],
    ['Region', a.region_code],
  ];
  const dl = $('d-fields');
  dl.replaceChildren();
  for (const [name, value] of fields) {
    const dt = document.createElement('dt');
    dt.textContent = name;
    const dd = document.createElement('dd');
    dd.textContent = value;
    dl.append(dt, dd);
  }
  const canAct = state.session && state.session.may_act && a.state !== 'closed';
  $('d-actions').hidden = !canAct;
  $('d-ack').hidden = !a.state.endsWith('unacked');
  $('d-minutes').max = Math.floor(state.session.max_shelve_ms / 60000);
  const body = $('d-history').tBodies[0];
  body.replaceChildren();
  for (const e of detail.history) {
    const row = body.insertRow();
    cell(row, String(e.seq), 'num');
    cell(row, localTime(e.at_ms));
    cell(row, e.kind);
    cell(row, STATE_WORD[e.alarm.state] || e.alarm.state);
    cell(row, e.value !== undefined ? e.value + unit(a) : '', 'num');
    cell(row, e.actor || '');
    cell(row, e.comment || '');
  }
  if (!dialog.open) dialog.showModal();
  drawTrend(a, detail.history);
}

// The colours of the severity badges, for the level lines on the plot.
const SEVERITY_COLOUR = { 1: '#dc2626', 2: '#ea580c', 3: '#ca8a04', 4: '#2563eb' };

// The sensor's readings from 30 minutes before the alarm was raised to 30
// minutes after its last transition (or now), raw or downsampled as the
// server finds fit, with the levels of the sensor's rule drawn across: the
// ones this alarm went through bold, the others thin.
async function drawTrend(a, history) {
  const box = $('d-trend');
  const note = $('d-trend-note');
  if (state.trend) { state.trend.destroy(); state.trend = null; }
  box.replaceChildren();
  note.textContent = '';
  if (!a.sensor_id) { note.textContent = 'A gateway alarm has no readings.'; return; }
  if (typeof Dygraph === 'undefined') { note.textContent = 'The plot library (dygraphs) is not installed.'; return; }
  const last = history.length ? history[history.length - 1].at_ms : a.changed_at_ms;
  const from = a.raised_at_ms - 30 * 60000;
  const to = Math.min(Math.max(last, a.raised_at_ms) + 30 * 60000, Date.now() + 60000);
  let data;
  try {
    data = await api('/api/v1/sensors/readings?sensor_id=' + encodeURIComponent(a.sensor_id) +
                     '&from_ms=' + from + '&to_ms=' + to + '&max_points=1000');
  } catch (e) { note.textContent = 'Readings: ' + e.message; return; }
  if (state.detailId !== a.alarm_id) return;  // another alarm was opened meanwhile
  if (!data.points.length) { note.textContent = 'No readings in this range.'; return; }
  const downsampled = data.mode === 'downsampled';
  const rows = data.points.map((p) => downsampled ? [new Date(p[0]), [p[1], p[2], p[3]]]
                                                  : [new Date(p[0]), p[1]]);
  // The rule's levels now, then those this alarm went through (the threshold
  // of each level it reached, as it was then: the rule may have changed).
  const levels = new Map();
  for (const l of data.levels || []) {
    levels.set(l.level, { value: l.value, severity: l.severity, reached: false });
  }
  const reached = [];
  for (const e of history) {
    if (e.alarm.kind === 'threshold' && e.alarm.level !== 'none') {
      levels.set(e.alarm.level, { value: e.alarm.threshold, severity: e.alarm.severity, reached: true });
      if (!reached.includes(e.alarm.level)) reached.push(e.alarm.level);
    }
  }
  const order = ['HH', 'H', 'L', 'LL'];
  const names = [...levels.keys()].sort((x, y) => order.indexOf(x) - order.indexOf(y));
  note.textContent = (downsampled ? 'Downsampled to ' + Math.round(data.step_ms / 1000) + ' s steps (min, avg, max)'
                                  : data.points.length + ' readings') +
      '; dashed lines: alarm levels ' + names.join(', ') +
      (reached.length ? ' (reached: ' + reached.join(', ') + ')' : '') +
      '; drag to zoom, double-click to reset.';
  let min = Infinity;
  let max = -Infinity;
  for (const { value } of levels.values()) { min = Math.min(min, value); max = Math.max(max, value); }
  for (const p of data.points) {
    for (const v of p.slice(1)) { min = Math.min(min, v); max = Math.max(max, v); }
  }
  const pad = (max - min) * 0.1 || 1;
  state.trend = new Dygraph(box, rows, {
    labels: ['time', (data.sensor_quantity || a.sensor_id) + unit(a)],
    customBars: downsampled,
    ylabel: data.sensor_unit || '',
    valueRange: [min - pad, max + pad],
    drawPoints: !downsampled,
    underlayCallback: (ctx, area, g) => {
      ctx.save();
      ctx.setLineDash([6, 4]);
      for (const [level, { value, severity, reached: hit }] of levels) {
        const y = g.toDomYCoord(value);
        ctx.lineWidth = hit ? 2.5 : 1;
        ctx.strokeStyle = SEVERITY_COLOUR[severity] || '#555';
        ctx.beginPath();
        ctx.moveTo(area.x, y);
        ctx.lineTo(area.x + area.w, y);
        ctx.stroke();
        ctx.fillStyle = ctx.strokeStyle;
        ctx.fillText(level + ' ' + value + unit(a), area.x + 4, y - 4);
      }
      const x = g.toDomXCoord(new Date(a.raised_at_ms));
      ctx.setLineDash([2, 2]);
      ctx.strokeStyle = '#555';
      ctx.beginPath();
      ctx.moveTo(x, area.y);
      ctx.lineTo(x, area.y + area.h);
      ctx.stroke();
      ctx.restore();
    },
  });
  box.dataset.points = String(data.points.length);
  box.dataset.levels = names.join(',');
  box.dataset.reached = reached.join(',');
}

// ---- Alarm-load KPIs (as in /metrics): the provinces for a national token,
// else the token's own province, city or county ----

const kLevelNames = { province: 'Province', city: 'City', county: 'County' };

async function loadKpis() {
  const { regions } = await api('/api/v1/kpis');
  const box = $('kpis');
  box.replaceChildren();
  for (const k of regions) {
    const line = document.createElement('span');
    line.dataset.region = k.region;
    line.textContent = (kLevelNames[k.level] || 'Region') + ' ' + k.region + ': ' +
        k.raised_10m + ' raised in 10 min' + (k.flood ? ' — ALARM FLOOD' : '') + ' · ' +
        k.chattering + ' chattering · ' + k.stale + ' standing > 24 h · ' + k.shelved +
        ' shelved. ';
    if (k.flood) line.className = 'flood';
    box.appendChild(line);
  }
}

setInterval(() => {
  if (state.session && !$('alarm-view').hidden) loadKpis().catch(() => {});
}, 10000);

// ---- The enterprise view ----

async function loadEnterprises() {
  const { enterprises } = await api('/api/v1/enterprises');
  const select = $('e-select');
  const chosen = select.value;
  select.replaceChildren();
  for (const e of enterprises) {
    const option = document.createElement('option');
    option.value = e.enterprise_id;
    option.textContent = e.name + ' (' + e.kind.replace('_', ' ') + ', ' + e.region_code + ') — ' +
        e.open_alarms + ' open alarm' + (e.open_alarms === 1 ? '' : 's');
    select.appendChild(option);
  }
  if (chosen && enterprises.some((e) => e.enterprise_id === chosen)) select.value = chosen;
  await showEnterprise();
}

async function showEnterprise() {
  const id = $('e-select').value;
  const body = $('e-sensors').tBodies[0];
  if (!id) { body.replaceChildren(); return; }
  const data = await api('/api/v1/enterprises/latest?enterprise_id=' + encodeURIComponent(id));
  body.replaceChildren();
  let stale = 0;
  let alarmed = 0;
  for (const s of data.sensors) {
    const row = body.insertRow();
    row.dataset.sensorId = s.sensor_id;
    if (s.stale) { row.className = 'stale'; ++stale; }
    if (s.alarms.length) ++alarmed;
    cell(row, s.sensor_id);
    cell(row, s.quantity || '');
    cell(row, s.value !== undefined ? s.value + (s.unit ? ' ' + s.unit : '') : '—', 'num');
    cell(row, localTime(s.at_ms));
    const data = cell(row, s.stale ? 'STALE' : 'current');
    if (s.stale) data.className = 'stale-word';
    const alarms = cell(row, '');
    for (const a of s.alarms) {
      alarms.appendChild(severityBadge(a.severity));
      alarms.appendChild(document.createTextNode(' ' + (a.level !== 'none' ? a.level + ' ' : '') +
          (STATE_WORD[a.state] || a.state) + ' '));
    }
  }
  $('e-summary').textContent = data.sensors.length + ' sensors, ' + stale + ' stale, ' +
      alarmed + ' with open alarms';
}

function showView(name) {
  const enterprises = name === 'enterprises';
  $('alarm-view').hidden = enterprises;
  $('enterprise-view').hidden = !enterprises;
  $('show-alarms').setAttribute('aria-pressed', String(!enterprises));
  $('show-enterprises').setAttribute('aria-pressed', String(enterprises));
  if (enterprises) loadEnterprises().catch((e) => { $('e-summary').textContent = e.message; });
}

// The enterprise view is read, not streamed: refreshed every 5 s while shown.
setInterval(() => {
  if (state.session && !$('enterprise-view').hidden) showEnterprise().catch(() => {});
}, 5000);

// ---- Wiring ----

document.addEventListener('DOMContentLoaded', () => {
  $('sign-in-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('sign-in-error').textContent = '';
    try {
      await signIn($('token').value.trim());
      $('token').value = '';
    } catch (err) {
      if (err.message !== 'unauthenticated') $('sign-in-error').textContent = err.message;
    }
  });
  $('sign-out').addEventListener('click', () => signOut(''));
  $('show-alarms').addEventListener('click', () => showView('alarms'));
  $('show-enterprises').addEventListener('click', () => showView('enterprises'));
  $('e-select').addEventListener('change', () => showEnterprise().catch(() => {}));
  for (const id of ['f-severity', 'f-state', 'f-kind', 'f-region', 'f-sort']) {
    $(id).addEventListener('input', render);
  }
  $('filters').addEventListener('submit', (e) => e.preventDefault());
  $('d-ack').addEventListener('click', async () => {
    try {
      await post('/api/v1/alarms/acknowledge', { alarm_id: state.detailId });
      await showDetail(state.detailId);
    } catch (e) { $('d-error').textContent = e.message; }
  });
  $('d-shelve-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await shelve(state.detailId, $('d-reason').value, Number($('d-minutes').value));
      await showDetail(state.detailId);
    } catch (err) { $('d-error').textContent = err.message; }
  });
  $('detail').addEventListener('close', () => { state.detailId = null; });
  if (state.token) signIn(state.token).catch(() => {});
});
