/* The outbox page: every entry with its state; fix, retry, resend as new, discard, export. */
(function () {
  'use strict';
  var outbox = window.FieldwalkOutbox;
  var list = document.getElementById('outbox-list');
  if (!outbox || !list) return;
  var config = JSON.parse(document.getElementById('outbox-config').textContent);
  var msg = config.msg;
  var template = document.getElementById('outbox-item');
  // --- the last resort: everything unsent as a ZIP (JSON plus photos) ----------------------

  var CRC_TABLE = (function () {
    var table = new Uint32Array(256);
    for (var n = 0; n < 256; n++) {
      var c = n;
      for (var k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  })();

  function crc32(bytes) {
    var c = 0xffffffff;
    for (var i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }

  /* A stored (uncompressed) ZIP: photos are already compressed. */
  function zip(files) {
    var parts = [], central = [], offset = 0;
    var encoder = new TextEncoder();
    files.forEach(function (file) {
      var name = encoder.encode(file.name), data = file.data, crc = crc32(data);
      var local = new DataView(new ArrayBuffer(30));
      local.setUint32(0, 0x04034b50, true); local.setUint16(4, 20, true); local.setUint16(6, 0x0800, true);
      local.setUint32(14, crc, true); local.setUint32(18, data.length, true); local.setUint32(22, data.length, true);
      local.setUint16(26, name.length, true);
      parts.push(local.buffer, name, data);
      var entry = new DataView(new ArrayBuffer(46));
      entry.setUint32(0, 0x02014b50, true); entry.setUint16(4, 20, true); entry.setUint16(6, 20, true);
      entry.setUint16(8, 0x0800, true); entry.setUint32(16, crc, true); entry.setUint32(20, data.length, true);
      entry.setUint32(24, data.length, true); entry.setUint16(28, name.length, true); entry.setUint32(42, offset, true);
      central.push(entry.buffer, name);
      offset += 30 + name.length + data.length;
    });
    var size = central.reduce(function (n, part) { return n + part.byteLength; }, 0);
    var end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, 0x06054b50, true); end.setUint16(8, files.length, true); end.setUint16(10, files.length, true);
    end.setUint32(12, size, true); end.setUint32(16, offset, true);
    return new Blob(parts.concat(central, [end.buffer]), { type: 'application/zip' });
  }

  function exportZip() {
    return outbox.all().then(function (entries) {
      var files = [], manifest = [];
      // Each unsent photo's bytes, one read at a time (a phone's memory is not a server's).
      return entries.reduce(function (chain, e) {
        return chain.then(function () {
          var photos = [];
          return e.photos.reduce(function (inner, p) {
            return inner.then(function () {
              return (p.sent ? Promise.resolve(null) : outbox.photoData(p.id)).then(function (data) {
                var file = data ? 'photos/' + p.id + '.bin' : null;
                if (file) files.push({ name: file, data: new Uint8Array(data) });
                photos.push({ id: p.id, name: p.name, type: p.type, file: file, sent: p.sent, gps: p.gps || null, taken_at: p.taken_at || null });
              });
            });
          }, Promise.resolve()).then(function () {
            manifest.push({
              id: e.id, walk_id: e.walk_id, created_at: e.created_at, state: e.state, error: e.error,
              observation_sent: e.observation_sent, body: e.body, photos: photos
            });
          });
        });
      }, Promise.resolve()).then(function () {
        files.unshift({ name: 'outbox.json', data: new TextEncoder().encode(JSON.stringify({ format: 'fieldwalk-outbox', version: 1, entries: manifest }, null, 2)) });
        return zip(files);
      });
    });
  }

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
        li.querySelector('.state').textContent = msg.waiting + (unsent ? ' · ' + fill(msg.photos[unsent === 1 ? 0 : 1], { n: unsent }) : '');
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
    exportZip().then(function (blob) {
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
