// The sweep explorer's page script (topolearn.figures.explorer inlines it with plotly.js and the data).
// One selection drives everything: the runs passing the table's column filters and the parallel
// coordinates' brushed ranges are the "active" runs shown in the table and the trajectories.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("explorer-data").textContent);
  const COLS = D.columns.map((c) => c.name);
  const COL = Object.fromEntries(COLS.map((c, i) => [c, i]));
  const TYPE = Object.fromEntries(D.columns.map((c) => [c.name, c.type]));
  const ROWS = D.rows;
  const RUN = ROWS.map((r) => r[COL.run_id]);
  const LABEL = Object.fromEntries(ROWS.map((r) => [r[COL.run_id], r[COL.label]]));
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
  const WEBGL = (() => {
    try {
      const c = document.createElement("canvas");
      return !!(c.getContext("webgl") || c.getContext("experimental-webgl"));
    } catch (e) {
      return false;
    }
  })();
  const state = { filters: {}, brush: {}, sort: null, desc: false, chosen: null, pcDims: [] };

  const fmt = (v) => (v === null || v === undefined ? "NA" : typeof v === "number" ? String(v) : String(v));
  const el = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- filters and selection
  function predicate(text, type) {
    text = text.trim();
    if (!text) return null;
    const num = type === "number";
    let m;
    if (num && (m = text.match(/^(-?[\d.eE+-]+)\s*\.\.\s*(-?[\d.eE+-]+)$/))) {
      const lo = +m[1], hi = +m[2];
      return (v) => v !== null && v >= lo && v <= hi;
    }
    if (num && (m = text.match(/^(<=|>=|<|>|=|!=)\s*(-?[\d.eE+-]+)$/))) {
      const x = +m[2], op = m[1];
      return (v) => v !== null && (op === "<" ? v < x : op === ">" ? v > x : op === "<=" ? v <= x
        : op === ">=" ? v >= x : op === "=" ? v === x : v !== x);
    }
    const needle = text.toLowerCase();
    return (v) => fmt(v).toLowerCase().includes(needle);
  }

  function active() {
    const preds = Object.entries(state.filters).map(([c, t]) => [COL[c], predicate(t, TYPE[c])]).filter((p) => p[1]);
    const brushes = Object.entries(state.brush);
    const out = [];
    ROWS.forEach((row, i) => {
      if (!preds.every(([j, p]) => p(row[j]))) return;
      for (const [c, ranges] of brushes) {
        const v = pcValue(c, row[COL[c]]);
        if (!ranges.some(([a, b]) => v >= a && v <= b)) return;
      }
      out.push(i);
    });
    return out;
  }

  // ---------------------------------------------------------------- the runs table
  function buildHeader() {
    const tr = document.createElement("tr");
    COLS.forEach((c) => {
      const th = document.createElement("th");
      const kind = D.columns[COL[c]].kind;
      th.className = kind;
      const name = document.createElement("span");
      name.textContent = c;
      name.className = "sort";
      th.appendChild(name);
      const input = document.createElement("input");
      input.type = "search";
      input.dataset.col = c;
      input.placeholder = TYPE[c] === "number" ? ">0.5, 1..4" : "contains";
      input.addEventListener("input", () => {
        state.filters[c] = input.value;
        update();
      });
      input.addEventListener("click", (e) => e.stopPropagation());
      th.appendChild(input);
      th.addEventListener("click", () => {
        state.desc = state.sort === c ? !state.desc : false;
        state.sort = c;
        renderTable(active());
      });
      tr.appendChild(th);
    });
    document.querySelector("#runs thead").appendChild(tr);
  }

  function compare(a, b) {
    if (a === b) return 0;
    if (a === null) return 1;  // missing values last, either direction
    if (b === null) return -1;
    return a < b ? -1 : 1;
  }

  function renderTable(idx) {
    if (state.sort !== null) {
      const j = COL[state.sort], s = state.desc ? -1 : 1;
      idx = idx.slice().sort((p, q) => {
        const a = ROWS[p][j], b = ROWS[q][j];
        return a === null || b === null ? compare(a, b) : s * compare(a, b);
      });
    }
    const body = document.querySelector("#runs tbody");
    const html = idx.map((i) => {
      const r = ROWS[i], rid = r[COL.run_id];
      const cells = r.map((v, j) => `<td class="${TYPE[COLS[j]]}">${escapeHtml(fmt(v))}</td>`).join("");
      return `<tr data-run="${rid}"${rid === state.chosen ? ' class="chosen"' : ""}>${cells}</tr>`;
    });
    body.innerHTML = html.join("");
    el("count").textContent = `${idx.length} of ${ROWS.length} run(s) selected.`;
  }

  function escapeHtml(s) {
    return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  }

  document.querySelector("#runs tbody").addEventListener("click", (e) => {
    const tr = e.target.closest("tr");
    if (tr) choose(tr.dataset.run);
  });

  // ---------------------------------------------------------------- parallel coordinates
  const categories = {};  // column -> its distinct values, for non-numeric axes
  function pcValue(c, v) {
    if (TYPE[c] === "number") return v === null ? NaN : v;
    if (!categories[c]) categories[c] = [...new Set(ROWS.map((r) => fmt(r[COL[c]])))].sort();
    return categories[c].indexOf(fmt(v));
  }

  function pcDimension(c) {
    const values = ROWS.map((r) => pcValue(c, r[COL[c]]));
    const dim = { label: c, values: values };
    if (TYPE[c] !== "number") {
      dim.tickvals = categories[c].map((_, i) => i);
      dim.ticktext = categories[c];
      dim.range = [-0.5, categories[c].length - 0.5];
    }
    return dim;
  }

  const numericResults = D.results.filter((c) => TYPE[c] !== "string" || c === "analysis_status");
  const defaultResults = ["final_test_acc", "output_branches", "first_branch_epoch", "inpca_final_progress"];

  function buildParcoordsControls() {
    const box = el("pc-results");
    numericResults.forEach((c) => {
      const label = document.createElement("label");
      const cb = document.createElement("input");
      cb.type = "checkbox";
      cb.value = c;
      cb.checked = defaultResults.includes(c);
      cb.addEventListener("change", renderParcoords);
      label.appendChild(cb);
      label.appendChild(document.createTextNode(" " + c));
      box.appendChild(label);
    });
    const sel = el("pc-color");
    D.results.filter((c) => TYPE[c] === "number").forEach((c) => sel.add(new Option(c, c)));
    if (COL.final_test_acc !== undefined) sel.value = "final_test_acc";
    sel.addEventListener("change", renderParcoords);
  }

  let pcHover = null;
  function renderParcoords() {
    const gd = el("plot-parcoords");
    if (!WEBGL) {
      gd.textContent = "Parallel coordinates need WebGL, which this browser does not offer.";
      return;
    }
    const chosen = [...document.querySelectorAll("#pc-results input:checked")].map((i) => i.value);
    state.pcDims = D.params.concat(chosen);
    state.brush = {};
    const colorCol = el("pc-color").value;
    const color = colorCol ? ROWS.map((r) => (r[COL[colorCol]] === null ? NaN : r[COL[colorCol]])) : "#0072B2";
    const finite = colorCol ? color.filter(Number.isFinite) : [];
    const line = !finite.length ? { color: "#0072B2" }  // no value to colour by
      : { color: color, colorscale: "Viridis", showscale: true, cmin: Math.min(...finite), cmax: Math.max(...finite),
          colorbar: { title: { text: colorCol } } };
    const trace = { type: "parcoords", dimensions: state.pcDims.map(pcDimension), line: line };
    Plotly.react(gd, [trace], { margin: { l: 60, r: 60, t: 50, b: 20 } }, { displaylogo: false, responsive: true });
    update();
  }

  function onParcoordsRestyle() {
    const dims = el("plot-parcoords").data[0].dimensions;
    state.brush = {};
    dims.forEach((d, i) => {
      const r = d.constraintrange;
      if (!r || !r.length) return;
      state.brush[state.pcDims[i]] = Array.isArray(r[0]) ? r : [r];
    });
    update();
  }

  // ---------------------------------------------------------------- InPCA trajectories
  const traj = D.inpca;
  // Beyond this many checkpoints the 2-D view draws with WebGL: SVG markers by the ten thousand
  // make every filter keystroke take seconds.
  const TRAJ_POINTS = Object.values(traj.runs).reduce((n, t) => n + t.x.length, 0);
  const TYPE2D = WEBGL && TRAJ_POINTS > 20000 ? "scattergl" : "scatter";
  function buildTrajectoryControls() {
    const sel = el("traj-color");
    D.params.concat(["analysis_status"]).filter((c) => COL[c] !== undefined).forEach((c) => sel.add(new Option(c, c)));
    sel.addEventListener("change", renderTrajectories);
    const gsel = el("traj-group");
    traj.groups.forEach((g) => gsel.add(new Option(g, g)));
    el("traj-group-wrap").style.display = traj.groups.length > 1 ? "" : "none";
    gsel.addEventListener("change", renderTrajectories);
    el("traj-note").textContent = `at most ${D.limits.trajectory_points} checkpoints per run are drawn ` +
      `(evenly spaced; ${Object.keys(traj.runs).length} runs, ${TRAJ_POINTS} checkpoints)`;
    el("curve-note").textContent = `Curves of every run, thinned to at most ${D.limits.curve_points} evenly ` +
      "spaced snapshots each; the run's own figures show all of them.";
  }

  function trajectoryTraces(idx, three) {
    const group = el("traj-group").value;
    const by = el("traj-color").value;
    const values = [...new Set(ROWS.map((r) => fmt(r[COL[by]])))].sort();
    const traces = values.map((v, k) => ({
      type: three ? "scatter3d" : TYPE2D, mode: "lines+markers", name: `${by}=${v}`,
      x: [], y: [], z: [], customdata: [], text: [],
      line: { color: PALETTE[k % PALETTE.length], width: three ? 3 : 1.2 },
      marker: { color: PALETTE[k % PALETTE.length], size: three ? 2 : 4 },
      hovertemplate: "%{text}<br>epoch %{customdata[1]}, progress %{customdata[2]}<extra></extra>",
    }));
    const highlight = { type: three ? "scatter3d" : TYPE2D, mode: "lines", name: "chosen run", x: [], y: [], z: [],
                        line: { color: "#d62728", width: three ? 7 : 3.5 }, hoverinfo: "skip", showlegend: false };
    idx.forEach((i) => {
      const rid = RUN[i], t = traj.runs[rid];
      if (!t || t.group !== group) return;
      const tr = traces[values.indexOf(fmt(ROWS[i][COL[by]]))];
      for (let p = 0; p < t.x.length; p++) {
        tr.x.push(t.x[p]); tr.y.push(t.y[p]); tr.z.push(t.z[p]);
        tr.customdata.push([rid, t.epoch[p], t.progress[p]]);
        tr.text.push(`${rid}: ${LABEL[rid]}`);
      }
      tr.x.push(null); tr.y.push(null); tr.z.push(null); tr.customdata.push([null, null, null]); tr.text.push("");
    });
    const chosen = traj.runs[state.chosen];
    if (chosen && chosen.group === group) Object.assign(highlight, { x: chosen.x, y: chosen.y, z: chosen.z });
    const marks = traj.landmarks.filter((m) => m.group === group);
    const landmarks = { type: three ? "scatter3d" : "scatter", mode: "markers+text", name: "landmarks",
                        x: marks.map((m) => m.x), y: marks.map((m) => m.y), z: marks.map((m) => m.z),
                        text: marks.map((m) => m.kind), textposition: "top center", hoverinfo: "text",
                        marker: { color: "#000", size: three ? 5 : 9, symbol: "diamond" } };
    const all = traces.concat([landmarks, highlight]);
    if (!three) all.forEach((t) => delete t.z);
    return all;
  }

  function renderTrajectories(idx) {
    if (!Array.isArray(idx)) idx = active();
    const gd2 = el("plot-traj2d"), gd3 = el("plot-traj3d");
    if (!traj.groups.length) {
      gd2.textContent = "No InPCA trajectories (no finite checkpoint).";
      return;
    }
    const layout = { margin: { l: 50, r: 10, t: 30, b: 40 }, hovermode: "closest", legend: { font: { size: 10 } } };
    Plotly.react(gd2, trajectoryTraces(idx, false),
                 Object.assign({ title: { text: "InPCA 1-2" }, xaxis: { title: { text: "InPCA 1" } },
                                 yaxis: { title: { text: "InPCA 2" } } }, layout), { displaylogo: false });
    if (WEBGL) {
      Plotly.react(gd3, trajectoryTraces(idx, true), Object.assign({ title: { text: "InPCA 1-3" },
        scene: { xaxis: { title: { text: "InPCA 1" } }, yaxis: { title: { text: "InPCA 2" } },
                 zaxis: { title: { text: "InPCA 3" } } }, uirevision: "keep" }, layout), { displaylogo: false });
    } else {
      gd3.textContent = "The 3-D view needs WebGL, which this browser does not offer.";
    }
  }

  function onTrajectoryClick(ev) {
    const p = ev && ev.points && ev.points[0];
    if (p && p.customdata && p.customdata[0]) choose(p.customdata[0]);
  }

  // ---------------------------------------------------------------- one run's curves and links
  function choose(rid) {
    if (!D.runs[rid]) return;
    state.chosen = rid;
    const run = D.runs[rid];
    el("run-title").textContent = `Run ${rid}: ${LABEL[rid]}`;
    el("detail-section").dataset.run = rid;
    const links = el("run-links");
    links.innerHTML = "";
    run.links.forEach((l) => {
      const a = document.createElement("a");
      a.href = l.href;
      a.textContent = l.page ? `${l.label} (interactive)` : l.label;
      if (l.page) a.className = "page";
      links.appendChild(a);
    });
    if (!run.links.length) links.textContent = "No figures for this run (figures.runs chooses the runs drawn).";
    const small = { margin: { l: 50, r: 10, t: 30, b: 40 }, legend: { font: { size: 10 } } };
    const c = run.curves;
    const line = (y, name, dash) => ({ type: "scatter", mode: "lines", x: c.epoch, y: c[y], name: name,
                                       line: { dash: dash || "solid" } });
    if (!c) {
      el("plot-accuracy").textContent = "No store for this run.";
    } else {
      Plotly.react("plot-accuracy", [line("train_acc", "train"), line("test_acc", "test", "dot")],
                   Object.assign({ title: { text: "accuracy" }, xaxis: { title: { text: "epoch" } },
                                   yaxis: { range: [0, 1.02] } }, small), { displaylogo: false });
      Plotly.react("plot-loss", [line("train_loss", "train"), line("test_loss", "test", "dot")],
                   Object.assign({ title: { text: "loss" }, xaxis: { title: { text: "epoch" } },
                                   yaxis: { type: "log" } }, small), { displaylogo: false });
    }
    const branching = Object.entries(run.branching).map(([layer, b]) => ({
      type: "scatter", mode: "lines", line: { shape: "hv" }, x: b.epoch, y: b.groups, name: layer }));
    Plotly.react("plot-branching", branching,
                 Object.assign({ title: { text: branching.length ? "branching: neuron groups" : "no branching curve" },
                                 xaxis: { title: { text: "epoch" } }, yaxis: { title: { text: "groups" } } }, small),
                 { displaylogo: false });
    update();
  }

  // ---------------------------------------------------------------- wiring
  function update() {
    const idx = active();
    renderTable(idx);
    renderTrajectories(idx);
  }

  buildHeader();
  buildParcoordsControls();
  buildTrajectoryControls();
  renderParcoords();  // calls update()
  if (WEBGL) {
    const pc = el("plot-parcoords");
    pc.on("plotly_restyle", onParcoordsRestyle);
    pc.on("plotly_hover", (d) => { pcHover = d && d.curveNumber; });
    pc.on("plotly_unhover", () => { pcHover = null; });
    pc.addEventListener("click", () => { if (pcHover !== null && pcHover !== undefined) choose(RUN[pcHover]); });
  }
  if (traj.groups.length) {
    el("plot-traj2d").on("plotly_click", onTrajectoryClick);
    if (WEBGL) el("plot-traj3d").on("plotly_click", onTrajectoryClick);
  }
  el("clear").addEventListener("click", () => {
    document.querySelectorAll("#runs thead input").forEach((i) => { i.value = ""; });
    state.filters = {};
    renderParcoords();
  });
  document.body.dataset.ready = "true";
})();
