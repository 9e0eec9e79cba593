# Helpers for the tiny image's boot script (busybox sh; also plain POSIX sh and awk so that
# the unit tests run them on the build host). Sourced, not run.

# json_flatten < doc.json: one "path<TAB>value" line per scalar, paths joined with "."
# (object keys and array indexes): {"a": {"b": [1, "x"]}} gives "a.b.0	1" and "a.b.1	x".
# String escapes are decoded; a value with newlines gives one line per non-empty piece.
json_flatten() {
    awk '
function fail(msg) { printf "json_flatten: %s at %d\n", msg, pos > "/dev/stderr"; bad = 1; exit 1 }
function ws() { while (pos <= n && index(" \t\r\n", substr(s, pos, 1)) > 0) pos++ }
function hexval(h,   i, v, c) {
    v = 0
    for (i = 1; i <= length(h); i++) {
        c = index("0123456789abcdef", tolower(substr(h, i, 1)))
        if (c == 0) fail("bad \\u escape")
        v = v * 16 + c - 1
    }
    return v
}
function str(   out, c, e, v) {
    pos++
    out = ""
    while (pos <= n) {
        c = substr(s, pos, 1)
        if (c == "\"") { pos++; return out }
        if (c == "\\") {
            e = substr(s, pos + 1, 1); pos += 2
            if (e == "n") out = out "\n"
            else if (e == "t") out = out "\t"
            else if (e == "r") out = out ""
            else if (e == "b" || e == "f") out = out ""
            else if (e == "u") {
                v = hexval(substr(s, pos, 4)); pos += 4
                out = out ((v >= 32 && v < 127) ? sprintf("%c", v) : "?")
            } else out = out e
            continue
        }
        out = out c
        pos++
    }
    fail("unterminated string")
}
function emit(path, v,   k, parts, i) {
    k = split(v, parts, "\n")
    for (i = 1; i <= k; i++) if (parts[i] != "") print path "\t" parts[i]
}
function join(path, key) { return path == "" ? key : path "." key }
function value(path,   c, key, i, lit) {
    ws()
    c = substr(s, pos, 1)
    if (c == "{") {
        pos++; ws()
        if (substr(s, pos, 1) == "}") { pos++; return }
        while (1) {
            ws()
            if (substr(s, pos, 1) != "\"") fail("expected a key")
            key = str(); ws()
            if (substr(s, pos, 1) != ":") fail("expected :")
            pos++
            value(join(path, key)); ws()
            c = substr(s, pos, 1); pos++
            if (c == "}") return
            if (c != ",") fail("expected , or }")
        }
    }
    if (c == "[") {
        pos++; ws()
        if (substr(s, pos, 1) == "]") { pos++; return }
        for (i = 0; ; i++) {
            value(join(path, i)); ws()
            c = substr(s, pos, 1); pos++
            if (c == "]") return
            if (c != ",") fail("expected , or ]")
        }
    }
    if (c == "\"") { emit(path, str()); return }
    lit = ""
    while (pos <= n && index(",}] \t\r\n", substr(s, pos, 1)) == 0) { lit = lit substr(s, pos, 1); pos++ }
    if (lit == "") fail("expected a value")
    emit(path, lit)
}
{ s = s $0 "\n" }
END {
    if (bad) exit 1
    n = length(s); pos = 1
    value(""); ws()
    if (pos <= n) fail("trailing data")
}'
}

# md_get PATH < flat: the value(s) at PATH.
md_get() {
    awk -v p="$1" 'BEGIN { FS = "\t" } $1 == p { print substr($0, length($1) + 2) }'
}

# md_under PREFIX < flat: every value whose path starts with PREFIX.
md_under() {
    awk -v p="$1" 'BEGIN { FS = "\t" } index($1, p) == 1 { print substr($0, length($1) + 2) }'
}

# md_public_keys < flat: the SSH public keys of an OpenStack meta_data.json, one a line.
md_public_keys() {
    awk 'BEGIN { FS = "\t" }
        $1 ~ /^public_keys\./ { print substr($0, length($1) + 2); found = 1; next }
        $1 ~ /^keys\.[0-9]+\.data$/ { keys[++k] = substr($0, length($1) + 2) }
        END { if (!found) for (i = 1; i <= k; i++) print keys[i] }'
}

# md_hostname < flat: the short host name: "hostname" (else "name") up to its first dot,
# lower case, letters, digits and "-" only, at most 63 characters (tempest compares it
# with the lower-cased server name).
md_hostname() {
    awk 'BEGIN { FS = "\t" }
        $1 == "hostname" && h == "" { h = substr($0, length($1) + 2) }
        $1 == "name" && nm == "" { nm = substr($0, length($1) + 2) }
        END {
            if (h == "") h = nm
            sub(/\..*/, "", h)
            h = tolower(h)
            gsub(/[^a-z0-9-]/, "-", h)
            sub(/^-+/, "", h)
            h = substr(h, 1, 63)
            sub(/-+$/, "", h)
            print h
        }'
}

# is_script FILE: true when FILE starts with "#!".
is_script() {
    [ -s "$1" ] && [ "$(head -c 2 "$1")" = "#!" ]
}
