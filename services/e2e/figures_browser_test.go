package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"leakscope/query/figures"
	"leakscope/query/webui"
	"leakscope/services/internal/querysrv"
)

// The figures in headless Chromium with the network blocked (ECharts and
// the stylesheet come from leakscope itself), in the shared frame:
// /figures/ lists for each experiment exactly the figures that apply to it
// (Builder.Applicable), and every interactive figure draws a chart with
// data, in the static figure's colours — a rate tile's fill is webui's
// viridis colour of its value (lsColor), Δ uses figures.Diverging, series
// the Wong palette — with no text (axis names, labels, legends, titles)
// outside its chart or the 1440 px window, and no console error.
// Screenshots go to $LEAKSCOPE_TEST_OUT.
func TestInteractiveFiguresInChromium(t *testing.T) {
	tab := newBrowserTab(t, 1440, 900)
	require.Equal(t, figures.EchartsSHA256, figures.EmbeddedEchartsSHA256(), "the vendored ECharts is the pinned build")
	e := openEngine(t, importedFixtures(t))
	srv := httptest.NewServer(querysrv.Mux(e, nil)) // the served app: figures and the shared assets
	defer srv.Close()
	ctx := context.Background()

	// The index: per experiment, the applicable figures and no other.
	require.NoError(t, chromedp.Do(tab.Ctx, chromedp.Navigate(srv.URL+"/figures/")))
	framed, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[bool](`!!document.querySelector('header.ls-top') && !!document.querySelector('link[href="/assets/leakscope.css"]')`))
	require.NoError(t, err)
	require.True(t, framed, "/figures/ is in the shared frame")
	listed, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[map[string][]string](`(function(){
  var out = {};
  document.querySelectorAll('section[data-experiment]').forEach(function(s){
    out[s.dataset.experiment] = Array.from(s.querySelectorAll('tr[data-figure]')).map(function(r){ return r.dataset.figure; });
  });
  return out; })()`))
	require.NoError(t, err)
	runs, err := e.Runs(ctx, "")
	require.NoError(t, err)
	want := map[string][]string{}
	for _, r := range runs {
		if _, ok := want[r.Experiment]; ok {
			continue
		}
		ws, err := (&figures.Builder{Engine: e, Experiment: r.Experiment}).Applicable(ctx)
		require.NoError(t, err)
		want[r.Experiment] = []string{}
		for _, w := range ws {
			if w.Skipped == "" {
				want[r.Experiment] = append(want[r.Experiment], w.Name)
			}
		}
	}
	require.Equal(t, want, listed, "the index lists exactly the applicable figures per experiment")
	require.Equal(t, []string{}, listed["persona_cosine_centered"], "a cosine-only experiment lists no leakage figure")
	require.NotContains(t, listed["single_token_100_persona"], "hero_noun_leakage_matrix")
	tab.Screenshot(t, "figures_index")

	pages := map[string]string{"cosine_vs_leakage": "single_token_100_persona"}
	for _, n := range want["leakage_i81"] {
		pages[n] = "leakage_i81"
	}
	names := make([]string, 0, len(pages))
	for n := range pages {
		names = append(names, n)
	}
	sort.Strings(names)
	seq := strings.Join(hexes(webui.Sequential), ",")
	div := strings.Join(hexes(figures.Diverging), ",")
	wong := strings.Join(figures.WongHex(), ",")
	rateHeatmaps := 0
	for _, name := range names {
		exp := pages[name]
		require.NoError(t, chromedp.Do(tab.Ctx, chromedp.Navigate(srv.URL+"/figures/"+exp+"/"+name)), name)
		type chartInfo struct {
			Points   int      `json:"points"`
			Scale    string   `json:"scale"`
			Palette  string   `json:"palette"`
			Mismatch []string `json:"mismatch"`
			Checked  int      `json:"checked"`
			Bars     int      `json:"bars"`
			Download []string `json:"download"`
		}
		var info chartInfo
		require.Eventually(t, func() bool {
			got, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[chartInfo](`(function(){
  var info = {points: 0, scale: '', palette: '', mismatch: [], checked: 0, bars: 0,
    download: Array.from(document.querySelectorAll('.ls-downloads a')).map(function(a){ return a.textContent; })};
  var rgb = function(s){ var m = s.match(/\d+/g); return m ? m.slice(0,3).map(Number) : null; };
  document.querySelectorAll('[_echarts_instance_]').forEach(function(el){
    var c = echarts.getInstanceByDom(el); if (!c) return;
    var o = c.getOption();
    (o.series || []).forEach(function(s){
      info.points += (s.data || []).length;
      if (s.type === 'custom') info.bars += (s.data || []).length; // interval bars
    });
    if (o.color) info.palette = o.color.join(',');
    if (!o.visualMap || !o.visualMap.length) return;
    var vm = o.visualMap[0]; info.scale = vm.inRange.color.join(',');
    if (info.scale !== LS_SCALE.join(',')) return;
    // A rate tile's fill is webui's colour of its value on [min, max].
    var data = c.getModel().getSeriesByIndex(0).getData();
    for (var i = 0; i < data.count() && info.checked < 60; i++) {
      var v = data.get(data.mapDimension('value'), i); if (typeof v !== 'number' || isNaN(v)) continue;
      var fill = rgb(data.getItemVisual(i, 'style').fill), want = rgb(lsColor((v - vm.min) / (vm.max - vm.min)));
      info.checked++;
      if (!fill || fill.some(function(x, k){ return Math.abs(x - want[k]) > 2; })) info.mismatch.push(v + ': ' + fill + ' vs ' + want);
    }
  });
  return info; })()`))
			info = got
			return err == nil && info.Points > 0
		}, 20*time.Second, 100*time.Millisecond, "%s draws a chart with data", name)
		require.Equal(t, []string{"PNG", "SVG", "PDF"}, info.Download, "%s offers the static files", name)
		switch name { // the intervals the static figure draws, drawn here too
		case "slice_noun_isolation", "slice_trait_gradation":
			require.Equal(t, 4*125+30, info.Bars, "%s: a Wilson bar on every measured point", name)
		case "slice", "source_cell", "trait_ranking_hero":
			require.Greater(t, info.Bars, 4, "%s draws its intervals", name)
		}
		switch name {
		case "heatmap", "submatrix_5x5", "hero_noun_leakage_matrix", "slice_interaction":
			require.Equal(t, seq, info.Scale, "%s: rates on webui's viridis scale", name)
			require.Greater(t, info.Checked, 4, name)
			require.Empty(t, info.Mismatch, "%s: tile colours are webui's lsColor of their values", name)
			rateHeatmaps++
		case "heatmap_5x130_base_subtracted":
			require.Equal(t, div, info.Scale, "%s: Δ on the static figure's diverging scale", name)
		default:
			require.Equal(t, wong, info.Palette, "%s: series in the static figure's Wong palette", name)
		}
		tab.Screenshot(t, "figure_"+exp+"_"+name)
		t.Logf("%s: %d data points", name, info.Points)
		// Nothing drawn outside its chart or the window: each chart drawn
		// again with ECharts' SVG renderer (same layout), every text's box
		// must lie inside the chart's box and the viewport.
		outside := evalJS[[]string](t, tab, `(function(){
  var out = [];
  document.querySelectorAll('[_echarts_instance_]').forEach(function(el){
    var c = echarts.getInstanceByDom(el); if (!c) return;
    var o = c.getOption(); o.animation = false; c.dispose();
    echarts.init(el, null, {renderer: 'svg'}).setOption(o);
    var box = el.getBoundingClientRect(), vw = document.documentElement.clientWidth;
    el.querySelectorAll('svg text').forEach(function(t){
      var r = t.getBoundingClientRect(); if (!r.width) return;
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5 || r.left < 0 || r.right > vw)
        out.push(JSON.stringify(t.textContent) + ' at [' + [r.left, r.top, r.right, r.bottom].map(Math.round) + '] outside [' + [box.left, box.top, box.right, box.bottom].map(Math.round) + ']');
    });
  });
  return out; })()`)
		assert.Empty(t, outside, "%s: text outside its chart or the window", name) // every figure reported
		tab.Screenshot(t, "figure_"+exp+"_"+name+"_svg")
	}
	require.Equal(t, 4, rateHeatmaps)
	require.Empty(t, tab.ConsoleErrors(), "no console errors")
}

func hexes[C interface{ RGBA() (r, g, b, a uint32) }](cs []C) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		r, g, b, _ := c.RGBA()
		out[i] = fmt.Sprintf("#%02x%02x%02x", r>>8, g>>8, b>>8)
	}
	return out
}
