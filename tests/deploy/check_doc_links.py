#!/usr/bin/python3
"""Every relative link in the Markdown files of the repository (README.md,
docs/, the folder READMEs) points at a file that exists, and every #anchor at
a heading of that file (GitHub's anchor rules: lower case, punctuation
dropped, spaces to dashes). Moving a section must not leave a link behind.

    tests/deploy/check_doc_links.py SOURCE_DIR
"""
import os
import re
import sys

source = os.path.abspath(sys.argv[1])
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(path):
    found = set()
    with open(path) as f:
        for line in f:
            m = re.match(r"#+\s+(.*)", line)
            if m:
                title = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
                found.add(title.replace(" ", "-"))
    return found


bad = []
count = 0
for folder, dirs, files in os.walk(source):
    dirs[:] = [d for d in dirs if not d.startswith((".", "build"))]
    for name in files:
        if not name.endswith(".md"):
            continue
        path = os.path.join(folder, name)
        in_code = False
        with open(path) as f:
            for number, line in enumerate(f, 1):
                if line.lstrip().startswith("```"):
                    in_code = not in_code
                if in_code:
                    continue
                for target in LINK.findall(line):
                    if re.match(r"[a-z]+:", target):
                        continue
                    count += 1
                    file_part, _, anchor = target.partition("#")
                    resolved = os.path.normpath(os.path.join(folder, file_part)) if file_part else path
                    where = f"{os.path.relpath(path, source)}:{number}: {target}"
                    if not os.path.exists(resolved):
                        bad.append(where + " (no such file)")
                    elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                        bad.append(where + " (no such heading)")
print(f"{count} relative links checked, {len(bad)} broken")
for b in bad:
    print("BROKEN: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
