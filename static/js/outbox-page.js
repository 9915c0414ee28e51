/* The outbox page: every entry with its state; fix, retry, resend as new, discard, export. */
(function () {
  'use strict';
  var outbox = window.FieldwalkOutbox;
  var list = document.getElementById('outbox-list');
  if (!outbox || !list) return;
  var config = JSON.parse(document.getElementById('outbox-config').textContent);
  var msg = config.msg;
  var template = document.getElementById('outbox-item');
  function fill(text, values) { return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k]; }); }

  function render() {
    outbox.all().then(function (entries) {
      list.textContent = '';
      document.getElementById('outbox-empty').hidden = entries.length > 0;
      entries.forEach(function (entry) {
        var li = template.content.firstElementChild.cloneNode(true);
        li.id = 'outbox-' + entry.id;
        li.querySelector('.cat').textContent = config.labels[entry.body.category] || entry.body.category;
        li.querySelector('.desc').textContent = entry.body.description || '';
        var unsent = entry.photos.filter(function (p) { return !p.sent; }).length;
        li.querySelector('.state').textContent = msg.waiting + (unsent ? ' · ' + fill(msg.photos, { n: unsent }) : '');
        var reason = li.querySelector('.reason');
        if (entry.state !== 'waiting') {
          li.classList.add('problem');
          reason.hidden = false;
          reason.textContent = entry.state === 'conflict' ? msg.conflict : fill(msg.refused, { reason: entry.error });
        }
        var form = li.querySelector('form.fix');
        var retry = li.querySelector('.retry');
        if (entry.state === 'rejected') {
          retry.hidden = false;
          if (!entry.observation_sent) {
            form.hidden = false;
            form.description.value = entry.body.description || '';
            form.category.value = entry.body.category;
          }
          retry.addEventListener('click', function () {
            var changes = form.hidden ? null : { description: form.description.value, category: form.category.value };
            outbox.retry(entry.id, changes).then(function () { return window.FieldwalkSync && window.FieldwalkSync.now(); }).then(render);
          });
        }
        if (entry.state === 'conflict') {
          var asNew = li.querySelector('.as-new');
          asNew.hidden = false;
          asNew.addEventListener('click', function () {
            outbox.resendAsNew(entry.id).then(function () { return window.FieldwalkSync && window.FieldwalkSync.now(); }).then(render);
          });
        }
        li.querySelector('.discard').addEventListener('click', function () {
          if (window.confirm(msg.confirmDiscard)) outbox.remove(entry.id).then(render);
        });
        list.append(li);
      });
    });
  }

  document.getElementById('outbox-send-all').addEventListener('click', function () {
    if (window.FieldwalkSync) window.FieldwalkSync.now().then(render);
  });
  document.getElementById('outbox-export').addEventListener('click', function () {
    outbox.exportZip().then(function (blob) {
      var a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = 'fieldwalk-outbox-' + new Date().toISOString().slice(0, 10) + '.zip';
      document.body.append(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    });
  });
  outbox.onChange(render);
  render();
})();
