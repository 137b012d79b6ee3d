// Verifies the public record in the browser, with WebCrypto only:
// an entry's inclusion proof against its signed tree head, or a consistency
// proof between two signed tree heads (RFC 9162 §2.1.3.2 and §2.1.4.2), and
// each tree head's Ed25519 signature with the log's key.
//
// It never says "verified" unless every check ran and passed here: where the
// browser lacks SHA-256 or Ed25519 in WebCrypto it says so ("not verified in
// this browser"); where a check fails it says which.
(function () {
  "use strict";

  var verdict = document.getElementById("verdict");
  var steps = document.getElementById("steps");
  var dataNode = document.getElementById("proof-data");
  if (!verdict || !steps || !dataNode) return;

  function Unsupported(message) { this.message = message; }

  function step(text, state) {
    var li = document.createElement("li");
    li.textContent = (state === "ok" ? "✓ " : state === "failed" ? "✗ " : "") + text;
    li.setAttribute("data-state", state);
    steps.appendChild(li);
  }

  function setVerdict(state, text) {
    verdict.setAttribute("data-state", state);
    verdict.textContent = text;
  }

  function hexToBytes(hex) {
    if (typeof hex !== "string" || hex.length % 2 !== 0 || /[^0-9a-f]/i.test(hex)) throw new Error("not hex: " + hex);
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }

  function bytesToHex(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  function b64ToBytes(b64) {
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function concat(parts) {
    var n = 0, i;
    for (i = 0; i < parts.length; i++) n += parts[i].length;
    var out = new Uint8Array(n), at = 0;
    for (i = 0; i < parts.length; i++) { out.set(parts[i], at); at += parts[i].length; }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    var d = 0;
    for (var i = 0; i < a.length; i++) d |= a[i] ^ b[i];
    return d === 0;
  }

  function subtle() {
    if (!window.crypto || !window.crypto.subtle) {
      throw new Unsupported("this browser offers no WebCrypto here (it needs a secure context: https or localhost)");
    }
    return window.crypto.subtle;
  }

  function sha256(bytes) {
    return subtle().digest("SHA-256", bytes).then(function (d) { return new Uint8Array(d); });
  }

  // RFC 9162 §2.1.1: leaf and interior node hashes, domain-separated.
  function leafHash(leaf) { return sha256(concat([new Uint8Array([0]), leaf])); }
  function nodeHash(left, right) { return sha256(concat([new Uint8Array([1]), left, right])); }

  // RFC 9162 §2.1.3.2: the root the audit path leads to (null: not a path of this tree).
  async function rootFromInclusion(index, size, leaf, path) {
    if (!(index >= 0 && index < size)) return null;
    var fn = index, sn = size - 1, r = leaf;
    for (var i = 0; i < path.length; i++) {
      if (sn === 0) return null;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(path[i], r);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        r = await nodeHash(r, path[i]);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 ? r : null;
  }

  // RFC 9162 §2.1.4.2.
  async function consistent(first, second, firstRoot, secondRoot, proof) {
    if (!(first >= 1 && first <= second)) return false;
    if (first === second) return proof.length === 0 && equal(firstRoot, secondRoot);
    if (proof.length === 0) return false;
    var path = proof.slice();
    if ((first & (first - 1)) === 0) path.unshift(firstRoot);
    var fn = first - 1, sn = second - 1;
    while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    var fr = path[0], sr = path[0];
    for (var i = 1; i < path.length; i++) {
      var c = path[i];
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 && equal(fr, firstRoot) && equal(sr, secondRoot);
  }

  // What a tree head signature covers: RFC 8785 JSON of these four members
  // (keys sorted; integers and hex strings serialise the same in any JSON).
  function treeHeadBytes(sth) {
    var text = "{\"log\":" + JSON.stringify(sth.log) + ",\"root_hash\":" + JSON.stringify(sth.root_hash) +
      ",\"timestamp\":" + String(sth.timestamp) + ",\"tree_size\":" + String(sth.tree_size) + "}";
    return new TextEncoder().encode(text);
  }

  async function importKey(rawB64) {
    try {
      return await subtle().importKey("raw", b64ToBytes(rawB64), { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      if (e instanceof Unsupported) throw e;
      throw new Unsupported("this browser's WebCrypto does not support Ed25519 (" + (e && e.name) + ")");
    }
  }

  async function verifyHead(key, sth) {
    var sig = b64ToBytes(sth.signature);
    try {
      return await subtle().verify({ name: "Ed25519" }, key, sig, treeHeadBytes(sth));
    } catch (e) {
      throw new Unsupported("this browser could not run an Ed25519 verification (" + (e && e.name) + ")");
    }
  }

  async function checkKey(keyInfo, heads) {
    var kid = bytesToHex(await sha256(b64ToBytes(keyInfo.public_key_raw)));
    if (kid !== keyInfo.key_id) { step("The key's id is not the SHA-256 of the key", "failed"); return false; }
    for (var i = 0; i < heads.length; i++) {
      if (heads[i].key_id !== kid) { step("Tree head " + heads[i].tree_size + " names another key", "failed"); return false; }
    }
    step("The log key's id is " + kid, "ok");
    return true;
  }

  async function verifyInclusion(data) {
    var entry = data.entry, inc = data.inclusion, sth = inc.tree_head;
    var ok = true;
    var leaf = b64ToBytes(entry.leaf);
    var lh = await leafHash(leaf);
    if (bytesToHex(lh) === entry.leaf_hash && entry.leaf_hash === inc.leaf_hash) {
      step("The leaf hashes to " + entry.leaf_hash, "ok");
    } else {
      step("The leaf does not hash to the leaf hash given", "failed"); ok = false;
    }
    try {
      var doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(leaf));
      if (doc.index === entry.index && doc.kind === entry.kind) {
        step("The leaf says it is entry " + doc.index + ", " + doc.kind, "ok");
      } else {
        step("The leaf names another index or kind than the page", "failed"); ok = false;
      }
    } catch (e) {
      step("The leaf is not JSON", "failed"); ok = false;
    }
    var path = inc.audit_path.map(hexToBytes);
    var root = await rootFromInclusion(entry.index, sth.tree_size, lh, path);
    if (root && bytesToHex(root) === sth.root_hash) {
      step("The audit path of " + path.length + " hashes leads to the signed root " + sth.root_hash, "ok");
    } else {
      step("The audit path does not lead to the signed root", "failed"); ok = false;
    }
    if (!(await checkKey(data.key, [sth]))) ok = false;
    var key = await importKey(data.key.public_key_raw);
    if (await verifyHead(key, sth)) {
      step("The tree head of " + sth.tree_size + " entries is signed by the log's key", "ok");
    } else {
      step("The tree head's signature does not verify", "failed"); ok = false;
    }
    return ok ? "Verified in this browser: entry " + entry.index + " is in the log of " + sth.tree_size +
      " entries whose signed head is shown below." : null;
  }

  async function verifyConsistency(data) {
    var c = data.consistency, a = c.first_tree_head, b = c.second_tree_head;
    var ok = true;
    if (!(await checkKey(data.key, [a, b]))) ok = false;
    var key = await importKey(data.key.public_key_raw);
    var heads = [a, b];
    for (var i = 0; i < heads.length; i++) {
      if (await verifyHead(key, heads[i])) {
        step("The tree head of " + heads[i].tree_size + " entries is signed by the log's key", "ok");
      } else {
        step("The tree head of " + heads[i].tree_size + " entries has a bad signature", "failed"); ok = false;
      }
    }
    var good = await consistent(a.tree_size, b.tree_size, hexToBytes(a.root_hash), hexToBytes(b.root_hash),
      c.proof.map(hexToBytes));
    if (good) {
      step("The proof of " + c.proof.length + " hashes shows the log of " + b.tree_size + " extends the log of " + a.tree_size, "ok");
    } else {
      step("The proof does not show the later log extends the earlier one", "failed"); ok = false;
    }
    return ok ? "Verified in this browser: the log of " + b.tree_size + " entries extends the log of " +
      a.tree_size + " entries, unchanged." : null;
  }

  async function run() {
    var data = JSON.parse(dataNode.textContent);
    setVerdict("unknown", "Checking…");
    try {
      var message = data.consistency ? await verifyConsistency(data) : await verifyInclusion(data);
      if (message) setVerdict("verified", message);
      else setVerdict("failed", "NOT verified: a check failed (see below). Do not rely on this entry or head.");
    } catch (e) {
      if (e instanceof Unsupported) {
        setVerdict("unknown", "Not verified in this browser: " + e.message + ". Check it with stagegate-sign verify-log.");
      } else {
        setVerdict("failed", "NOT verified: the proof could not be read (" + (e && e.message) + ").");
      }
    }
  }

  run();
})();
