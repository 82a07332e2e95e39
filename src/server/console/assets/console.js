// modelgate console. Served from this origin only (no inline script anywhere), so a strict
// Content-Security-Policy holds. The pages work without it; it adds checks the browser can make
// itself.
"use strict";

// Decision page: re-check the inclusion proof in the browser. The server put the record's exact
// stored bytes (base64), its leaf hash, its index, the checkpoint's tree size and root and the
// audit path (hex) on #proof-browser-check; this hashes the bytes into the leaf (SHA-256 of 0x00
// and the bytes), recomputes the RFC 6962 root from it with Web Crypto (RFC 9162 section
// 2.1.3.2) and says whether it is the checkpoint's. It checks the server's arithmetic on the
// data the page shows; the checkpoint's signature is checked by the server (and offline by
// `modelgate audit verify` or an evidence pack).
(function () {
  var OK = "Re-checked in this browser: the proof leads to the checkpoint's root.";
  var MISMATCH = "Re-checked in this browser: the proof does NOT lead to the checkpoint's root.";
  var UNAVAILABLE = "This browser cannot re-check the proof (Web Crypto is not available here).";
  var UNREADABLE = "Re-checked in this browser: the proof data on this page does not read.";
  var LEAF_MISMATCH = "Re-checked in this browser: the record's bytes do NOT hash to the leaf hash shown.";

  function fromBase64(text) {
    var bin = atob(text);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }

  function leafHash(bytes) {
    var buf = new Uint8Array(1 + bytes.length);
    buf[0] = 0;
    buf.set(bytes, 1);
    return crypto.subtle.digest("SHA-256", buf).then(function (d) { return new Uint8Array(d); });
  }

  function fromHex(hex) {
    if (!/^([0-9a-f]{2})+$/.test(hex)) { throw new Error("not hex"); }
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) { out[i] = parseInt(hex.substr(i * 2, 2), 16); }
    return out;
  }

  function nodeHash(left, right) {
    var buf = new Uint8Array(1 + left.length + right.length);
    buf[0] = 1;
    buf.set(left, 1);
    buf.set(right, 1 + left.length);
    return crypto.subtle.digest("SHA-256", buf).then(function (d) { return new Uint8Array(d); });
  }

  function equal(a, b) {
    if (a.length !== b.length) { return false; }
    var diff = 0;
    for (var i = 0; i < a.length; i++) { diff |= a[i] ^ b[i]; }
    return diff === 0;
  }

  // RFC 9162 2.1.3.2: true when `path` leads from `leaf` at `index` to `root` of a tree of `size`.
  async function verifyInclusion(leaf, index, size, path, root) {
    if (index >= size || leaf.length !== 32 || root.length !== 32) { return false; }
    var fn = index;
    var sn = size - 1n;
    var r = leaf;
    for (var i = 0; i < path.length; i++) {
      var p = path[i];
      if (p.length !== 32 || sn === 0n) { return false; }
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return sn === 0n && equal(r, root);
  }

  function say(el, text, good) {
    el.textContent = text;
    el.classList.remove("ok", "bad");
    el.classList.add(good ? "ok" : "bad");
  }

  function recheck() {
    var el = document.getElementById("proof-browser-check");
    if (!el || !el.dataset.root) { return; }
    if (!window.crypto || !window.crypto.subtle || typeof BigInt === "undefined") {
      say(el, UNAVAILABLE, false);
      return;
    }
    var leaf, record, index, size, root, path;
    try {
      leaf = fromHex(el.dataset.leaf || "");
      record = fromBase64(el.dataset.record || "");
      index = BigInt(el.dataset.index || "");
      size = BigInt(el.dataset.size || "");
      root = fromHex(el.dataset.root);
      var words = (el.dataset.proof || "").split(" ").filter(function (w) { return w !== ""; });
      path = words.map(fromHex);
    } catch (e) {
      say(el, UNREADABLE, false);
      return;
    }
    leafHash(record).then(function (computed) {
      if (!equal(computed, leaf)) {
        say(el, LEAF_MISMATCH, false);
        return;
      }
      return verifyInclusion(computed, index, size, path, root).then(function (ok) {
        say(el, ok ? OK : MISMATCH, ok);
      });
    }).catch(function () { say(el, UNAVAILABLE, false); });
  }

  // The browser tests change the page's data and run the check again.
  window.modelgateRecheckProof = recheck;

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", recheck);
  } else {
    recheck();
  }
})();
