// leakscope's compact heatmap of runs × bystanders (query/webui), drawn on
// a canvas: the live page and the experiment page both use it, so a live
// and a stored matrix look and behave the same. Needs leakscope.js.
//
//   const hm = lsHeatmap(box, {id, rowLabel, tip, href});
//   hm.set(rows, cols, groupBy, cellOf);
//
// box is an empty element; lsHeatmap builds in it the zoom tools (ids
// ID-zout, ID-zfit, ID-zin), the scrolling box ID-wrap, the canvas ID-map
// and the tooltip ID-tip. rows are the caller's objects (one a row);
// cols are webui.Column {persona, factors}, ordered and grouped by
// webui.GroupColumns, whose groupBy names the grouping factors outermost
// first; cellOf(row, col) is the cell or null (not planned / not in the
// run: hatched). A cell is {state, rate, n, expected, stopped}: state
// "done" (rate's colour, lsColor), "partial" (pending grey, filled from the
// bottom to n / expected), "pending" (planned, none yet: flat pending
// grey), "undefined" (no rate: the undefined grey, never a number),
// "unplanned" (done, outlined in the warning colour); stopped draws a
// corner mark. opts.rowLabel(row) is a row's label; opts.tip(row, col,
// cell) the tooltip's HTML; opts.href(row, col, cell) where a click goes
// (null: nowhere); opts.alt ends the canvas's aria-label (e.g. where the
// values are listed as text).
function lsHeatmap(box, opts){
  const id = opts.id || 'hm', el = (tag, cls, attrs) => { const e = document.createElement(tag); if(cls) e.className = cls; Object.assign(e, attrs || {}); return e };
  const tools = el('div', 'ls-hm-tools');
  const btn = (suffix, text, title) => { const b = el('button', '', {id: id+'-'+suffix, textContent: text, title, type: 'button'}); tools.appendChild(b); return b };
  tools.appendChild(el('span', '', {textContent: 'zoom'}));
  const zout = btn('zout', '−', 'zoom out'), zfit = btn('zfit', 'fit width', 'fit the width'), zin = btn('zin', '+', 'zoom in');
  tools.appendChild(el('span', 'ls-muted', {textContent: opts.hint || '(Ctrl + wheel over the map; hover a cell for its counts, click it for its completions)'}));
  const wrap = el('div', 'ls-hm-wrap', {id: id+'-wrap'}), map = el('canvas', 'ls-hm-map', {id: id+'-map', width: 0, height: 0});
  map.setAttribute('role', 'img');
  const tip = el('div', 'ls-hm-tip', {id: id+'-tip', hidden: true});
  wrap.appendChild(map); box.append(tools, wrap, tip);
  const rowLabel = opts.rowLabel || (r => String(r)), tipHTML = opts.tip || (() => ''), hrefOf = opts.href || (() => null);
  let rows = [], cols = [], groupBy = [], cellOf = () => null, zoom = 1, geo = null;

  // geometry lays the heatmap out: columns grouped by the first two
  // grouping factors (a wider gap between outer groups), one row per row.
  function geometry(){
    const g0 = groupBy[0], g1 = groupBy[1];
    const val = (b, f) => f && b.factors && (f in b.factors) ? b.factors[f] : null;
    const ctx = map.getContext('2d'); ctx.font = '12px system-ui,sans-serif';
    let labelW = 40;
    for(const r of rows) labelW = Math.max(labelW, ctx.measureText(rowLabel(r)).width + 10);
    labelW = Math.min(Math.ceil(labelW), 220);
    const gap = i => i > 0 && val(cols[i],g0) !== val(cols[i-1],g0) ? 6 : i > 0 && val(cols[i],g1) !== val(cols[i-1],g1) ? 2 : 0;
    let gaps = 0;
    for(let i=1;i<cols.length;i++) gaps += gap(i);
    const avail = Math.max(200, wrap.clientWidth - 2);
    const fit = Math.max(2, Math.min(28, Math.floor((avail - labelW - gaps) / Math.max(1, cols.length))));
    const cw = Math.max(2, Math.round(fit * zoom));
    const ch = Math.max(12, Math.min(30, Math.round(cw * 2)));
    const headH = (g0 ? 16 : 0) + (g1 ? 16 : 0) + 4;
    const xs = []; let x = labelW;
    for(let i=0;i<cols.length;i++){ x += gap(i); xs.push(x); x += cw }
    return {rows, cols, g0, g1, val, labelW, cw, ch, headH, xs, width: Math.ceil(x + 2), height: headH + rows.length * ch + 2};
  }

  function draw(){
    const G = geo = geometry();
    const dpr = window.devicePixelRatio || 1;
    map.width = Math.round(G.width * dpr); map.height = Math.round(G.height * dpr);
    map.style.width = G.width + 'px'; map.style.height = G.height + 'px';
    const ctx = map.getContext('2d'); ctx.setTransform(dpr,0,0,dpr,0,0);
    ctx.clearRect(0,0,G.width,G.height);
    ctx.font = '12px system-ui,sans-serif'; ctx.textBaseline = 'middle';
    const fg = lsCSS('--ls-fg'), muted = lsCSS('--ls-muted'), pending = lsCSS('--ls-pending'), undef = lsCSS('--ls-undef'), warn = lsCSS('--ls-warn'), pat = lsHatch(ctx);
    // Group labels: the outer factor on the first line, the inner on the second, where they fit.
    G.labels = []; // the group labels drawn ({factor, text, from, to}; for tests)
    // Group labels never leave a bare dash: a group without this factor is
    // labelled by its bystanders (or the outer group); neighbouring groups
    // too narrow for their own labels share one line and one label (their
    // values listed, else the outer group's value, else as much as fits).
    const fits = (t, w) => ctx.measureText(t).width <= w;
    const label = (f, y, from, to, cands) => {
      const x0 = G.xs[from], x1 = G.xs[to] + G.cw, w = x1 - x0;
      ctx.strokeStyle = muted; ctx.beginPath(); ctx.moveTo(x0, y+14.5); ctx.lineTo(x1, y+14.5); ctx.stroke();
      let t = cands.find(c => c && fits(c, w));
      const last = cands.filter(c => c).pop() || '';
      for(let n = last.length - 1; !t && n >= 1; n--) if(fits(last.slice(0, n)+'…', w)) t = last.slice(0, n)+'…';
      if(!t && last && fits(last[0], w)) t = last[0];
      if(t){ ctx.fillStyle = fg; ctx.fillText(t, x0 + (w - ctx.measureText(t).width)/2, y+7) }
      G.labels.push({factor: f, text: t || '', from, to});
    };
    const spans = (f, y) => {
      if(!f) return;
      const outerOf = i => f === G.g0 ? null : G.val(G.cols[i], G.g0);
      const name = (from, to) => { const v = G.val(G.cols[from], f);
        return v != null ? (f === G.g0 ? f+' '+v : v) : G.cols.slice(from, to+1).map(b => b.persona).join(', ') };
      let narrow = []; // [from, to] of neighbouring groups whose labels do not fit
      const flush = () => {
        if(!narrow.length) return;
        const from = narrow[0][0], to = narrow[narrow.length-1][1], o = outerOf(from);
        label(f, y, from, to, [narrow.map(([a, b]) => name(a, b)).join(', '), o, narrow.length === 1 ? name(from, to) : (o != null ? o : f)]);
        narrow = [];
      };
      let start = 0;
      for(let i=1;i<=G.cols.length;i++){
        if(i < G.cols.length && G.val(G.cols[i],f) === G.val(G.cols[start],f) && (f === G.g0 || G.val(G.cols[i],G.g0) === G.val(G.cols[start],G.g0))) continue;
        const t = name(start, i-1), w = G.xs[i-1] + G.cw - G.xs[start];
        if(narrow.length && outerOf(start) !== outerOf(narrow[0][0])) flush();
        if(fits(t, w)){ flush(); label(f, y, start, i-1, [t]) }
        else narrow.push([start, i-1]);
        start = i;
      }
      flush();
    };
    spans(G.g0, 0); spans(G.g1, G.g0 ? 16 : 0);
    const cw = G.cw, ch = G.ch, pad = cw >= 4 ? 1 : 0;
    G.rows.forEach((r, ri) => {
      const y = G.headH + ri * ch;
      ctx.fillStyle = fg; let lab = rowLabel(r);
      while(lab.length > 3 && ctx.measureText(lab).width > G.labelW - 8) lab = lab.slice(0, -2) + '…';
      ctx.fillText(lab, 2, y + ch/2);
      G.cols.forEach((b, ci) => {
        const x = G.xs[ci], w = cw - pad, h = ch - 1, c = cellOf(r, b);
        if(!c){ ctx.fillStyle = pat; ctx.fillRect(x, y, w, h); return }
        if(c.state === 'pending'){ ctx.fillStyle = pending; ctx.fillRect(x, y, w, h); return }
        if(c.state === 'undefined' || c.rate == null || Number.isNaN(c.rate)){ ctx.fillStyle = undef; ctx.fillRect(x, y, w, h); return }
        if(c.state === 'partial'){
          ctx.fillStyle = pending; ctx.fillRect(x, y, w, h);
          const fh = Math.max(1, Math.round(h * Math.min(1, c.n / c.expected)));
          ctx.fillStyle = lsColor(c.rate); ctx.fillRect(x, y + h - fh, w, fh);
        } else {
          ctx.fillStyle = lsColor(c.rate); ctx.fillRect(x, y, w, h);
        }
        if(c.state === 'unplanned'){ ctx.strokeStyle = warn; ctx.strokeRect(x+0.5, y+0.5, w-1, h-1) }
        if(c.stopped){ const m = Math.max(2, Math.round(Math.min(w, h)/3)); ctx.fillStyle = lsInk(c.rate); ctx.fillRect(x + w - m, y, m, m) }
      });
    });
  }

  function cellAt(ev){
    if(!geo) return null;
    const rect = map.getBoundingClientRect(), x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    const ri = Math.floor((y - geo.headH) / geo.ch);
    if(ri < 0 || ri >= geo.rows.length || x < geo.labelW) return null;
    let ci = -1;
    for(let i=0;i<geo.xs.length;i++) if(x >= geo.xs[i] && x < geo.xs[i] + geo.cw){ ci = i; break }
    if(ci < 0) return null;
    const r = geo.rows[ri], b = geo.cols[ci];
    return {r, b, c: cellOf(r, b)};
  }

  map.addEventListener('mousemove', ev => {
    const h = cellAt(ev);
    if(!h){ tip.hidden = true; map.style.cursor = 'default'; return }
    map.style.cursor = hrefOf(h.r, h.b, h.c) ? 'pointer' : 'default';
    tip.innerHTML = tipHTML(h.r, h.b, h.c); tip.hidden = false;
    const tw = tip.offsetWidth, th = tip.offsetHeight;
    let x = ev.clientX + 14, y = ev.clientY + 14;
    if(x + tw > window.innerWidth - 4) x = ev.clientX - tw - 10;
    if(y + th > window.innerHeight - 4) y = ev.clientY - th - 10;
    tip.style.left = Math.max(2, x)+'px'; tip.style.top = Math.max(2, y)+'px';
  });
  map.addEventListener('mouseleave', () => { tip.hidden = true });
  map.addEventListener('click', ev => {
    const h = cellAt(ev), u = h && hrefOf(h.r, h.b, h.c);
    if(u) location.href = u;
  });
  const setZoom = z => { zoom = Math.min(8, Math.max(0.5, z)); draw() };
  zin.onclick = () => setZoom(zoom * 1.25);
  zout.onclick = () => setZoom(zoom / 1.25);
  zfit.onclick = () => setZoom(1);
  wrap.addEventListener('wheel', ev => { if(!ev.ctrlKey) return; ev.preventDefault(); setZoom(zoom * (ev.deltaY < 0 ? 1.25 : 0.8)) }, {passive: false});
  window.addEventListener('resize', draw);
  return {
    set(r, c, g, of){
      rows = r || []; cols = c || []; groupBy = g || []; cellOf = of || (() => null);
      map.setAttribute('aria-label', 'heatmap: '+rows.length+' rows × '+cols.length+' bystanders'+(groupBy.length ? ', grouped by '+groupBy.join(', ') : '')+(opts.alt ? '; '+opts.alt : ''));
      draw();
    },
    geo: () => geo, draw, canvas: map,
  };
}

function lsCSS(v){ return getComputedStyle(document.documentElement).getPropertyValue(v).trim() }

// lsHatch is the pattern of "not planned" / "not in this run": distinct
// from the flat pending and undefined greys.
function lsHatch(ctx){
  const c = document.createElement('canvas'); c.width = c.height = 6;
  const g = c.getContext('2d'); g.fillStyle = '#fff'; g.fillRect(0,0,6,6);
  g.strokeStyle = '#b9c0c9'; g.lineWidth = 1; g.beginPath(); g.moveTo(0,6); g.lineTo(6,0); g.moveTo(-1,1); g.lineTo(1,-1); g.moveTo(5,7); g.lineTo(7,5); g.stroke();
  return ctx.createPattern(c, 'repeat');
}

// lsHeatmapLegend fills el with the heatmap's key: items are [kind, label]
// with kind one of scale (the colour bar 0 → 1), hatch, pending, undefined,
// partial, done, stop, unplanned.
function lsHeatmapLegend(el, items){
  el.classList.add('ls-hm-legend');
  const sw = draw => { const c = document.createElement('canvas'); c.width = c.height = 14; draw(c.getContext('2d')); const s = document.createElement('span'); s.className = 'ls-hm-sw'; s.style.background = 'url('+c.toDataURL()+')'; return s };
  const flat = v => g => { g.fillStyle = v; g.fillRect(0,0,14,14) };
  const kinds = {
    hatch: g => { g.fillStyle = lsHatch(g); g.fillRect(0,0,14,14) },
    pending: flat(lsCSS('--ls-pending')),
    undefined: flat(lsCSS('--ls-undef')),
    partial: g => { g.fillStyle = lsCSS('--ls-pending'); g.fillRect(0,0,14,14); g.fillStyle = lsColor(0.6); g.fillRect(0,8,14,6) },
    done: flat(lsColor(0.6)),
    stop: g => { g.fillStyle = lsColor(0.2); g.fillRect(0,0,14,14); g.fillStyle = lsInk(0.2); g.fillRect(9,0,5,5) },
    unplanned: g => { g.fillStyle = lsColor(0.6); g.fillRect(0,0,14,14); g.strokeStyle = lsCSS('--ls-warn'); g.strokeRect(0.5,0.5,13,13) },
  };
  for(const [kind, label] of items){
    const item = document.createElement('span');
    if(kind === 'scale'){
      const sc = document.createElement('canvas'); sc.width = 160; sc.height = 12; const g = sc.getContext('2d');
      for(let x=0;x<sc.width;x++){ g.fillStyle = lsColor(x/(sc.width-1)); g.fillRect(x,0,1,sc.height) }
      item.append('0 ', sc, ' 1 ', label);
    } else item.append(sw(kinds[kind]), label);
    el.appendChild(item);
  }
}
