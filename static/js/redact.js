/* fieldwalk photo editor: draw rectangles to blur with a finger or the mouse. Each becomes a
   hidden `box` field (x,y,w,h in the photo's own pixels) of the form, which the server applies
   to every copy. Without this script the form takes the same rectangles as numbers. */
(function () {
  'use strict';
  var stage = document.getElementById('redact-stage');
  var image = document.getElementById('redact-image');
  var form = document.getElementById('redact-form');
  var list = document.getElementById('redact-boxes');
  if (!stage || !image || !form || !list) return;
  var natural = { w: Number(stage.dataset.width), h: Number(stage.dataset.height) };
  var hint = document.getElementById('redact-hint');
  if (hint) hint.hidden = false;
  var words = JSON.parse(stage.dataset.words || '{}');
  var start = null;
  var drawing = null;
  var count = 0;

  function point(event) {
    var r = image.getBoundingClientRect();
    var x = Math.min(Math.max(event.clientX - r.left, 0), r.width);
    var y = Math.min(Math.max(event.clientY - r.top, 0), r.height);
    return { x: x, y: y, scale: natural.w / r.width };
  }

  function place(el, a, b) {
    el.style.left = Math.min(a.x, b.x) + 'px';
    el.style.top = Math.min(a.y, b.y) + 'px';
    el.style.width = Math.abs(a.x - b.x) + 'px';
    el.style.height = Math.abs(a.y - b.y) + 'px';
  }

  stage.addEventListener('pointerdown', function (event) {
    if (event.button !== 0) return;
    event.preventDefault();
    stage.setPointerCapture(event.pointerId);
    start = point(event);
    drawing = document.createElement('div');
    drawing.className = 'redact-box';
    place(drawing, start, start);
    stage.appendChild(drawing);
  });

  stage.addEventListener('pointermove', function (event) {
    if (!start) return;
    place(drawing, start, point(event));
  });

  function finish(event) {
    if (!start) return;
    var end = point(event);
    var s = start.scale;
    var box = {
      x: Math.round(Math.min(start.x, end.x) * s), y: Math.round(Math.min(start.y, end.y) * s),
      w: Math.round(Math.abs(start.x - end.x) * s), h: Math.round(Math.abs(start.y - end.y) * s)
    };
    start = null;
    if (box.w < 4 || box.h < 4) { drawing.remove(); return; }
    add(box, drawing);
  }
  stage.addEventListener('pointerup', finish);
  stage.addEventListener('pointercancel', function () { if (drawing) drawing.remove(); start = null; });

  function add(box, el) {
    count += 1;
    var input = document.createElement('input');
    input.type = 'hidden'; input.name = 'box';
    input.value = [box.x, box.y, box.w, box.h].join(',');
    form.appendChild(input);
    var item = document.createElement('li');
    var label = document.createElement('span');
    label.textContent = (words.box || 'Rectangle') + ' ' + count + ': ' + box.w + ' × ' + box.h;
    var remove = document.createElement('button');
    remove.type = 'button'; remove.className = 'button';
    remove.textContent = words.remove || 'Remove';
    remove.addEventListener('click', function () { input.remove(); el.remove(); item.remove(); });
    item.appendChild(label); item.appendChild(remove);
    list.appendChild(item);
  }
})();
