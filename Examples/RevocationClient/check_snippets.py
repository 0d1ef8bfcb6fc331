#!/usr/bin/env python3
"""Checks that every ```swift block of the DocC articles (Sources/*/Docs.docc/*.md) appears word
for word in this package's DocSnippets target, which `swift build` here compiles against the
library. Run by `make docs`; exits 1 naming each block that is missing."""

import re
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
root = here.parents[1]
snippets = "\n".join(p.read_text() for p in sorted((here / "Sources" / "DocSnippets").glob("*.swift")))
missing = 0
for article in sorted(root.glob("Sources/*/Docs.docc/*.md")):
    for block in re.findall(r"```swift\n(.*?)```", article.read_text(), re.S):
        if block not in snippets:
            missing += 1
            first = block.strip().splitlines()[0]
            print(f"{article.relative_to(root)}: a snippet is not in Examples/RevocationClient/Sources/DocSnippets: {first}")
sys.exit(1 if missing else 0)
