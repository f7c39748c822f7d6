#!/usr/bin/python3
"""Check a Vigil alarm journal export (vigilctl journal export) on its own.

Recomputes the hash chain of every entry line from the header's prev_hash:
    hash(n) = SHA-256(hash(n-1) || base64-decoded entry(n))
checks that each entry's bytes carry its seq, that the seqs have no gap, that
the fields in words match the bytes, and that the end line closes the file.
With --pubkey it also checks the Ed25519 signature FILE.sig by running
    openssl pkeyutl -verify -pubin -inkey PUB -rawin -in FILE -sigfile FILE.sig
With --after it checks that FILE continues an earlier export (its prev_hash is
that export's last hash). Python standard library only (hashlib); the format
is in docs/journal-integrity.md.

Exit 0 when everything holds, 1 with the first problem otherwise, 2 on bad usage.
"""

import argparse
import base64
import hashlib
import json
import struct
import subprocess
import sys

# alarm/event.h EventKind, as alarm::EventKindName writes them.
EVENT_KINDS = {1: "raised", 2: "escalated", 3: "de_escalated", 4: "cleared", 5: "acknowledged",
               6: "shelved", 7: "unshelved", 8: "reconciled", 9: "planned_work_opened",
               10: "planned_work_closed"}


class Problem(Exception):
    pass


class Reader:
    """The fixed-width little-endian fields of an entry (storage/alarm_codec.cc)."""

    def __init__(self, raw):
        self.raw = raw
        self.at = 0

    def take(self, fmt):
        size = struct.calcsize(fmt)
        if self.at + size > len(self.raw):
            raise Problem("entry bytes end early")
        (value,) = struct.unpack_from(fmt, self.raw, self.at)
        self.at += size
        return value

    def string(self):
        n = self.take("<I")
        if self.at + n > len(self.raw):
            raise Problem("entry bytes end early")
        value = self.raw[self.at:self.at + n].decode("utf-8", "replace")
        self.at += n
        return value


def decode_entry(raw):
    """The fields of a journal entry, in the order they are stored: version 1, or version 2
    (an entry of planned work) with the planned-work id at the end."""
    r = Reader(raw)
    e = {"version": r.take("<B"), "seq": r.take("<Q"), "alarm_id": r.take("<Q"),
         "event_kind": r.take("<B")}
    e["source"] = r.string()
    e["rule"] = r.string()
    e["alarm_kind"] = r.take("<B")
    e["state"] = r.take("<B")
    e["severity"] = r.take("<B")
    e["level"] = r.take("<b")
    e["occurrence"] = r.take("<Q")
    e["threshold"] = r.take("<d")
    e["trigger_value"] = r.take("<d")
    e["trigger_reading_at"] = r.take("<q")
    e["peak_value"] = r.take("<d")
    e["raised_at"] = r.take("<q")
    e["changed_at"] = r.take("<q")
    e["shelved_until"] = r.take("<q")
    e["value"] = r.take("<d")
    e["reading_at"] = r.take("<q")
    e["at_ms"] = r.take("<q")
    e["actor"] = r.string()
    e["comment"] = r.string()
    e["enterprise"] = r.string()
    e["region"] = r.string()
    e["enterprise_kind"] = r.take("<B")
    e["peak_severity"] = r.take("<B")
    if e["version"] == 2:
        e["planned_work"] = r.string()
    if r.at != len(raw):
        raise Problem("entry bytes have %d bytes past the last field" % (len(raw) - r.at))
    if e["version"] not in (1, 2):
        raise Problem("entry version %d (this script reads versions 1 and 2)" % e["version"])
    return e


def last_hash_of(path):
    with open(path, "rb") as f:
        lines = [line for line in f.read().split(b"\n") if line]
    end = json.loads(lines[-1])
    if not end.get("end"):
        raise Problem("%s: no end line" % path)
    return end["last_seq"], end["last_hash"]


def check(path, after):
    with open(path, "rb") as f:
        data = f.read()
    if not data.endswith(b"\n"):
        raise Problem("the file does not end with a newline (cut short?)")
    lines = data[:-1].split(b"\n")
    header = json.loads(lines[0])
    if header.get("format") != "vigil-journal-export" or header.get("version") != 1:
        raise Problem("line 1: not a vigil-journal-export version 1 header")
    prev = bytes.fromhex(header["prev_hash"])
    expect = header["from_seq"]
    if after is not None:
        after_seq, after_hash = last_hash_of(after)
        if after_seq + 1 != expect or after_hash != header["prev_hash"]:
            raise Problem("does not continue %s: it ends at seq %d with hash %s, this starts at "
                          "seq %d after hash %s" % (after, after_seq, after_hash, expect,
                                                    header["prev_hash"]))
    count = 0
    for number, line in enumerate(lines[1:], start=2):
        obj = json.loads(line)
        if obj.get("end"):
            if number != len(lines):
                raise Problem("line %d: end line before the last line" % number)
            if obj["from_seq"] != header["from_seq"] or obj["last_seq"] != expect - 1 or \
                    obj["entries"] != count or obj["last_hash"] != prev.hex():
                raise Problem("end line does not match the entries (last_seq %d, entries %d, "
                              "last hash %s)" % (expect - 1, count, prev.hex()))
            return header, obj, count
        seq = obj["seq"]
        if seq != expect:
            raise Problem("line %d: seq %d, expected %d (an entry is missing)" % (number, seq,
                                                                                  expect))
        raw = base64.b64decode(obj["entry"], validate=True)
        digest = hashlib.sha256(prev + raw).digest()
        if digest.hex() != obj["hash"]:
            raise Problem("seq %d: hash %s does not match SHA-256(previous hash || entry) = %s"
                          % (seq, obj["hash"], digest.hex()))
        try:
            fields = decode_entry(raw)
        except Problem as e:
            raise Problem("seq %d: %s" % (seq, e))
        if fields["seq"] != seq:
            raise Problem("seq %d: the entry's bytes carry seq %d" % (seq, fields["seq"]))
        if "error" not in obj:
            words = {"alarm_id": fields["alarm_id"], "source": fields["source"],
                     "rule": fields["rule"], "severity": fields["severity"],
                     "enterprise": fields["enterprise"], "region": fields["region"],
                     "actor": fields["actor"], "comment": fields["comment"],
                     "transition": EVENT_KINDS.get(fields["event_kind"], obj.get("transition"))}
            for key, value in words.items():
                if obj.get(key) != value:
                    raise Problem("seq %d: %s is %r in words but %r in the entry's bytes"
                                  % (seq, key, obj.get(key), value))
        prev = digest
        expect += 1
        count += 1
    raise Problem("no end line (the file was cut short)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", help="the export file (FILE.sig beside it for --pubkey)")
    parser.add_argument("--pubkey", help="Ed25519 public key (PEM) to check FILE.sig with")
    parser.add_argument("--after", help="an earlier export this one must continue")
    args = parser.parse_args()
    try:
        if args.pubkey:
            result = subprocess.run(
                ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", args.pubkey, "-rawin",
                 "-in", args.export, "-sigfile", args.export + ".sig"],
                capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise Problem("signature: openssl says: " +
                              (result.stdout + result.stderr).strip().splitlines()[0])
        header, end, count = check(args.export, args.after)
    except (OSError, ValueError, KeyError, Problem) as e:
        print("%s: FAILED: %s" % (args.export, e))
        return 1
    span = ", seq %d..%d" % (header["from_seq"], end["last_seq"]) if count else ""
    print("%s: OK: %d entries%s, chain holds%s; last hash %s%s" % (
        args.export, count, span, ", signature verified" if args.pubkey else "",
        end["last_hash"], "" if end["complete"] else " (incomplete: export stopped at the size "
                                                     "limit)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
