#!/usr/bin/env python3
"""What each page's wasm weighs as built, without a browser: the main file plus the
files its lazy route (or lazy function) needs per `__wasm_split_manifest.json`, in
KiB of brotli (the files `cargo leptos build --release --precompress --split`
writes). Quicker than `make bench-pages` while trying a client change; that one
measures the wire (with headers) in Chromium and is the number the README gives.

    scripts/wasm-pages.py [target/site/pkg]
"""
import collections
import json
import os
import sys

pkg = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "target", "site", "pkg")


def brotli_bytes(name):
    path = os.path.join(pkg, name + ".wasm")
    return os.path.getsize(path + ".br") if os.path.exists(path + ".br") else os.path.getsize(path)


manifest = json.load(open(os.path.join(pkg, "__wasm_split_manifest.json")))
main = brotli_bytes("rackstate")
sharing = collections.Counter(f for files in manifest.values() for f in files)
print(f"main file: {main / 1024:.0f} KiB")
for entry, files in sorted(manifest.items()):
    own = sum(brotli_bytes(f) for f in files if f.startswith("split"))
    shared = sum(brotli_bytes(f) for f in files if not f.startswith("split"))
    total = main + own + shared
    name = entry.strip("_").split("_route_view")[0]
    print(f"{name:<24} {total / 1024:6.0f} KiB  (own {own / 1024:.0f}, shared chunks {shared / 1024:.0f} in "
          f"{sum(1 for f in files if not f.startswith('split'))} files)")
