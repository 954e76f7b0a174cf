// leakscope's shared browser helpers (query/webui). No dependencies.
// LS_SCALE is webui.Sequential (viridis), the scale the static figures use:
// keep the two in step (TestScaleJSMatchesGo).
const LS_SCALE = ["#440154","#482878","#3e4a89","#31688e","#26828e","#1f9e89","#35b779","#6dcd59","#b4de2c","#fde725"];
// lsColor maps a rate in [0,1] (fraction) to the scale; null/NaN (undefined) is grey.
function lsColor(v){
  if(v===null||v===undefined||Number.isNaN(v))return "#c8c8c8";
  v=Math.min(Math.max(v,0),1);const x=v*(LS_SCALE.length-1),i=Math.min(Math.floor(x),LS_SCALE.length-2),f=x-i;
  const h=s=>[1,3,5].map(k=>parseInt(s.slice(k,k+2),16)),a=h(LS_SCALE[i]),b=h(LS_SCALE[i+1]);
  return "rgb("+a.map((p,k)=>Math.round(p+f*(b[k]-p))).join(",")+")";
}
// lsInk picks black or white text for a background made by lsColor.
function lsInk(v){return (v!==null&&v!==undefined&&!Number.isNaN(v)&&v>0.55)?"#000":"#fff"}
function lsEsc(s){return String(s).replace(/[&<>"']/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]))}
// lsFmtRate prints a rate as a fraction with 3 decimals; undefined prints "undefined", never a number.
function lsFmtRate(v){return (v===null||v===undefined||Number.isNaN(v))?"undefined":v.toFixed(3)}
