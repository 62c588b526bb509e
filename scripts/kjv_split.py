#!/usr/bin/env python3
"""Deterministic train / held-out split of the King James Bible (public domain).

Standard library only: runs with Debian's /usr/bin/python3.

Input: the text printed by Debian's `bible-kjv` package:

    bible "Gen1:1-Rev22:21" > kjv.txt

That output has, for each of the 1189 chapters, a blank line, a header line "Book N" ("Genesis 1",
"1 Samuel 3", "Song of Solomon 2"), a blank line, then the verses as "  V text" wrapped at 80 columns
(continuation lines are not indented).

Normalised form (what the tokenizer and the model see):
  * a verse is its text with the wrapped lines joined by single spaces, stripped, without its number;
  * a chapter is its verses, each followed by "\\n" (no header line);
  * a split is its chapters in canonical order joined by "\\n", i.e. one blank line between chapters.

Split rule: number the chapters 1..1189 in canonical order (Genesis 1 = 1, Revelation 22 = 1189).
Chapter k is HELD OUT iff k % 20 == 0 (the 20th, 40th, ... chapter: 59 chapters, about 5% of the text);
every other chapter is training text.

Usage:
    python3 scripts/kjv_split.py KJV.txt --out-dir DIR      # writes DIR/train.txt, DIR/heldout.txt
    python3 scripts/kjv_split.py KJV.txt --list-heldout     # prints the held-out chapter names
"""

import argparse
import hashlib
import os
import re
import sys

HELDOUT_EVERY = 20
_HEADER = re.compile(r"^(\S.*\S) (\d+)$")
_VERSE = re.compile(r"^ +(\d+) (.*)$")


def parse_chapters(text):
    """Returns [(book, chapter_number, [verse_text, ...]), ...] in canonical order."""
    lines = text.split("\n")
    chapters = []
    current = None  # list of verses of the current chapter
    for idx, line in enumerate(lines):
        prev_blank = idx == 0 or lines[idx - 1].strip() == ""
        next_blank = idx + 1 >= len(lines) or lines[idx + 1].strip() == ""
        if line.strip() == "":
            continue
        m = _HEADER.match(line)
        if m and prev_blank and next_blank:
            current = []
            chapters.append((m.group(1), int(m.group(2)), current))
            continue
        if current is None:
            raise ValueError("line %d: text before the first chapter header: %r" % (idx + 1, line))
        m = _VERSE.match(line)
        if m:
            current.append(m.group(2).strip())
        else:
            if not current:
                raise ValueError("line %d: continuation line before the first verse: %r" % (idx + 1, line))
            current[-1] = current[-1] + " " + line.strip()
    for book, num, verses in chapters:
        if not verses:
            raise ValueError("chapter %s %d has no verses" % (book, num))
    return chapters


def chapter_text(verses):
    return "".join(v + "\n" for v in verses)


def is_heldout(k):
    """k: 1-based chapter ordinal in canonical order."""
    return k % HELDOUT_EVERY == 0


def split_texts(chapters):
    """Returns (train_text, heldout_text, heldout_names)."""
    train, held, names = [], [], []
    for k, (book, num, verses) in enumerate(chapters, start=1):
        if is_heldout(k):
            held.append(chapter_text(verses))
            names.append("%s %d" % (book, num))
        else:
            train.append(chapter_text(verses))
    return "\n".join(train), "\n".join(held), names


def load_split(path):
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    chapters = parse_chapters(text)
    return chapters, split_texts(chapters)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kjv", help='output of: bible "Gen1:1-Rev22:21"')
    ap.add_argument("--out-dir", help="write train.txt and heldout.txt here")
    ap.add_argument("--list-heldout", action="store_true", help="print the held-out chapters")
    args = ap.parse_args(argv)
    chapters, (train, held, names) = load_split(args.kjv)
    nverses = sum(len(v) for _, _, v in chapters)
    sys.stderr.write("%d chapters, %d verses; held out %d chapters (%d chars), train %d chapters (%d chars)\n"
                     % (len(chapters), nverses, len(names), len(held), len(chapters) - len(names), len(train)))
    if args.list_heldout:
        print("\n".join(names))
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        for name, text in (("train.txt", train), ("heldout.txt", held)):
            data = text.encode("utf-8")
            with open(os.path.join(args.out_dir, name), "wb") as f:
                f.write(data)
            sys.stderr.write("%s: %d bytes, sha256 %s\n" % (name, len(data), hashlib.sha256(data).hexdigest()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
