"""Golden token ids for the chat plugin's tokenizer, from the Python
`tokenizers` package reading the same GGUF's tokenizer (as a tokenizer.json
built by scripts/llm_convert.py; the plugin reads the set-up's binary form).

    source scripts/env.sh; $(scripts/python-env.sh) plugins/examples/chat/golden/tokenizer.py

Writes tokenizer-cases.json beside this file: each tricky string with the ids
`tokenizers` gives and the text it decodes back to.
"""
import json
import os
import re
import sys

from gguf import GGUFReader
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
CACHE = os.environ.get("CLUSTERAI_CACHE", os.path.expanduser("~/.cache/clusterai"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import llm_convert  # noqa: E402

CASES = [
    "Once upon a time",
    "Hello, world!",
    "  leading spaces and trailing   ",
    "tabs\tand\nnewlines\n\n\nand\r\nCRLF",
    "multiple     spaces between",
    "\u00a0non-breaking\u2003em space\u3000ideographic space",
    "it's, I'm, you're, we've, they'll, he'd, IT'S",
    "numbers 1234567890 and 3.14159 and ١٢٣ and ½ ⅓",
    "naïve café résumé — “quotes” ‘single’ … ellipsis",
    "e\u0301 combining acute, Z\u0351\u0300 stacked",
    "日本語のテキスト、中文文本。한국어 텍스트",
    "emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flag 🇫🇷",
    "עברית ومرحبا بالعالم",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "special inside<|endoftext|>text<|im_end|>",
    "not special: <|im_start or |im_end|> or <im_start>",
    "def f(x):\n    return x ** 2  # square\n",
    "URL https://example.com/path?q=1&r=2#frag",
    "ALLCAPS and MiXeD CaSe and snake_case and kebab-case",
    "a" * 300,
    " " * 17 + "x",
    "\n" * 9,
    "",
]


def main():
    manifest = open(os.path.join(ROOT, "models", "models.toml"), encoding="utf-8").read()
    sha = re.search(r'^source_sha256 = "([0-9a-f]+)"', manifest, re.M).group(1)
    reader = GGUFReader(os.path.join(CACHE, "models", "sources", f"{sha}.gguf"))
    tok = Tokenizer.from_str(json.dumps(llm_convert.hf_tokenizer_json(reader)))
    cases = []
    for text in CASES:
        ids = tok.encode(text).ids
        cases.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
    with open(os.path.join(HERE, "tokenizer-cases.json"), "w", encoding="utf-8") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]\n")
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
