package figures

// fitScript runs on every interactive figure page after its charts are
// drawn: it keeps every text inside its chart at any width. The grid
// contains its tick labels (containLabel), whatever their length or
// rotation; each axis name is centred along its axis (nameLocation
// "middle") just beyond the labels, its gap measured from the laid-out
// grid (ECharts places a name at a fixed gap, so a long name at the
// axis's end ran off the right edge, and a fixed gap overlaps long
// labels); a colour scale (visualMap) stands at the right, beside the
// grid; the title is moved down from the top edge its glyphs touched. Charts
// are not animated: a figure is drawn once, where it stays. A heatmap's
// grid is filled with the static figures' "no cell" grey, so a missing
// tile reads as missing, not as white or as a low rate.
// The browser test (TestInteractiveFiguresInChromium) checks every text's
// box against its chart's.
const fitScript = `<script>
(function(){
  var L = 36, B = 36; // room for the rotated y name and the x name
  document.querySelectorAll('[_echarts_instance_]').forEach(function(el){
    var c = echarts.getInstanceByDom(el); if (!c) return;
    var o = c.getOption(); if (!o.grid || !o.xAxis) return;
    var vm = o.visualMap && o.visualMap.length;
    // A heatmap's missing tiles show the grid's background: the static
    // figures' grey for "no cell" (missingGrey, Y 90), never a colour of the scale.
    var heat = (o.series || []).some(function(s){ return s.type === 'heatmap'; });
    c.setOption({
      animation: false, // drawn once, at its place
      title: (o.title || []).map(function(){ return {top: 10}; }),
      grid: o.grid.map(function(){ var g = {containLabel: true, left: L, bottom: B, right: vm ? 120 : 24};
        if (heat) { g.show = true; g.backgroundColor = 'rgb(90,90,90)'; g.borderWidth = 0; } return g; }),
      visualMap: vm ? o.visualMap.map(function(){ return {left: 'auto', right: 8, top: 'middle', bottom: 'auto'}; }) : undefined
    });
    var rect = c.getModel().getComponent('grid', 0).coordinateSystem.getRect(), h = c.getHeight();
    c.setOption({
      xAxis: o.xAxis.map(function(a){
        var x = a.name ? {nameLocation: 'middle', nameGap: Math.max(20, Math.round(h - B - rect.y - rect.height + 10))} : {};
        // Category labels one line (about 14 px) apart at the least: label
        // one column in k where the columns are narrower; the tooltip names every tile.
        if (a.type === 'category' && a.data && a.data.length) {
          var k = Math.ceil(14 / (rect.width / a.data.length));
          if (k > 1) x.axisLabel = {interval: k - 1};
        }
        return x; }),
      yAxis: o.yAxis.map(function(a){ return a.name ? {nameLocation: 'middle', nameGap: Math.max(20, Math.round(rect.x - 20))} : {}; })
    });
  });
})();
</script>`
