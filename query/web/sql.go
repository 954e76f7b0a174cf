package web

import (
	"fmt"
	"html/template"
	"net/http"

	"leakscope/query"
	"leakscope/query/api"
	"leakscope/query/webui"
)

// viewColumnsSQL lists the views user SQL can read, with their columns,
// asked of the jail itself (duckdb_views/duckdb_columns are on its list).
const viewColumnsSQL = `SELECT v.view_name, c.column_name, c.data_type
FROM duckdb_views() v JOIN duckdb_columns() c ON c.table_name = v.view_name AND c.schema_name = v.schema_name
WHERE NOT v.internal AND v.schema_name = 'main'
ORDER BY v.view_name, c.column_index`

type viewInfo struct {
	Name    string
	Columns []struct{ Name, Type string }
}

// sqlPage is the SQL console: a statement box run through /api/sql (the
// jail, its limits), the views with their columns, the result as a table
// and downloads as CSV or Parquet.
func sqlPage(w http.ResponseWriter, r *http.Request, e *query.Engine) {
	for k := range r.URL.Query() {
		if k != "q" {
			fail(w, http.StatusBadRequest, fmt.Errorf("unknown query parameter %q (known: q)", k))
			return
		}
	}
	res, err := e.UserSQL(r.Context(), viewColumnsSQL, 0)
	if err != nil {
		fail(w, 0, fmt.Errorf("list the views: %w", err))
		return
	}
	var views []*viewInfo
	for _, row := range res.Rows {
		name, _ := row[0].(string)
		if len(views) == 0 || views[len(views)-1].Name != name {
			views = append(views, &viewInfo{Name: name})
		}
		col, _ := row[1].(string)
		typ, _ := row[2].(string)
		v := views[len(views)-1]
		v.Columns = append(v.Columns, struct{ Name, Type string }{col, typ})
	}
	q := r.URL.Query().Get("q")
	// A shared link (/sql?q=…) runs its query on load: the SQL is jailed
	// and read-only, so a GET may run it.
	autorun := q != ""
	if q == "" {
		q = "SELECT experiment, run_id, count(*) AS completions\nFROM completions\nGROUP BY ALL\nORDER BY ALL"
	}
	render(w, webui.Page{Title: "SQL", Active: "SQL", Head: sqlHead}, sqlBody,
		map[string]any{"Views": views, "Q": q, "MaxRows": api.MaxSQLRows, "Autorun": autorun})
}

var sqlHead = template.HTML(`<style>
.ls-sql{display:flex;gap:1em;align-items:flex-start}
.ls-sql aside{flex:0 0 18em;max-height:85vh;overflow:auto;font-size:12px}
.ls-sql aside details{margin:.15em 0}.ls-sql aside summary{cursor:pointer}
.ls-sql aside ul{margin:.1em 0 .4em 1em;padding:0;list-style:none}
.ls-sql .ls-main{flex:1;min-width:0}
#ls-q{width:100%;height:9em;font:var(--ls-mono)}
#ls-result{overflow:auto;max-height:65vh;margin-top:.5em}
.ls-error{color:#fff;background:var(--ls-warn);padding:.4em .6em;border-radius:3px;white-space:pre-wrap}
</style>`)

var sqlBody = template.Must(template.New("sql").Parse(`
<div class="ls-sql"><aside><b>Views</b> <span class="ls-muted">({{len .Views}}; click a name to query it)</span>
{{range .Views}}<details><summary><a href="#" class="ls-view" data-view="{{.Name}}">{{.Name}}</a></summary><ul>{{range .Columns}}<li>{{.Name}} <span class="ls-muted">{{.Type}}</span></li>{{end}}</ul></details>
{{end}}</aside>
<div class="ls-main">
<textarea id="ls-q" spellcheck="false">{{.Q}}</textarea>
<div><button id="ls-run" type="button">Run (Ctrl+Enter)</button> <button id="ls-csv" type="button">Download CSV</button> <button id="ls-parquet" type="button">Download Parquet</button>
<span id="ls-status" class="ls-muted">One read-only SELECT over the lake's views; at most {{.MaxRows}} rows.</span></div>
<div id="ls-result"></div></div></div>
<script>
(function(){
  const q=document.getElementById('ls-q'), out=document.getElementById('ls-result'), st=document.getElementById('ls-status');
  async function call(format){
    const r=await fetch('/api/sql'+(format?'?format='+format:''),{method:'POST',headers:{'Content-Type':'text/plain'},body:q.value});
    if(!r.ok){let m=r.status+' '+r.statusText;try{m=(await r.json()).error||m}catch(e){}throw new Error(m)}
    return r;
  }
  function showError(e){out.innerHTML='<div class="ls-error" id="ls-sql-error">'+lsEsc(e.message)+'</div>';st.textContent='failed'}
  async function run(){
    st.textContent='running…';const t0=performance.now();
    try{
      const d=await(await call('')).json();
      let h='<table class="ls" id="ls-table"><thead><tr>'+d.columns.map(function(c,i){return '<th title="'+lsEsc(d.types[i])+'">'+lsEsc(c)+'</th>'}).join('')+'</tr></thead><tbody>';
      h+=d.rows.map(function(r){return '<tr>'+r.map(function(v){
        if(v===null)return '<td class="ls-muted">NULL</td>';
        if(typeof v==='number')return '<td class="num">'+lsEsc(v)+'</td>';
        return '<td>'+lsEsc(typeof v==='object'?JSON.stringify(v):v)+'</td>'}).join('')+'</tr>'}).join('');
      out.innerHTML=h+'</tbody></table>';
      st.textContent=d.rows.length+' rows in '+Math.round(performance.now()-t0)+' ms';
    }catch(e){showError(e)}
  }
  async function download(format){
    st.textContent='preparing '+format+'…';
    try{
      const b=await(await call(format)).blob(), a=document.createElement('a');
      a.href=URL.createObjectURL(b);a.download='leakscope-query.'+format;document.body.appendChild(a);a.click();a.remove();
      setTimeout(function(){URL.revokeObjectURL(a.href)},10000);st.textContent=format+' downloaded ('+b.size+' bytes)';
    }catch(e){showError(e)}
  }
  document.getElementById('ls-run').addEventListener('click',run);
  document.getElementById('ls-csv').addEventListener('click',function(){download('csv')});
  document.getElementById('ls-parquet').addEventListener('click',function(){download('parquet')});
  {{if .Autorun}}run();{{end}}
  q.addEventListener('keydown',function(ev){if(ev.key==='Enter'&&(ev.ctrlKey||ev.metaKey)){ev.preventDefault();run()}});
  document.querySelectorAll('.ls-view').forEach(function(a){a.addEventListener('click',function(ev){ev.preventDefault();q.value='SELECT * FROM '+a.dataset.view+' LIMIT 100';run()})});
})();
</script>`))
