"""Text from mail whose charset label is missing, wrong or misspelt.

Mail clients label text with the charset they meant, not always the one
they used: `gb2312` on text that needs GBK, `iso-8859-1` on Windows-1252,
`shift_jis` and `iso-2022-jp` on text with Microsoft's extensions, no label
at all on 8-bit UTF-8 from a web site's contact form. The order here:

1. the label's superset (the decoder browsers and Outlook use for it);
2. UTF-8, when the bytes are valid UTF-8;
3. detection (charset-normalizer);
4. Windows-1252, which decodes every byte but five, with U+FFFD only for
   those: nothing is dropped.

U+FFFD is never stored where a standard encoding decodes the bytes cleanly.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

import charset_normalizer

# Labels whose text is, in practice, in a larger charset that decodes the
# same bytes the same way and more besides (as the WHATWG Encoding standard
# maps them for browsers, plus the Japanese and Korean Microsoft code pages).
SUPERSETS = {
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso-8859-9": "cp1254",
    "latin5": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "csgb2312": "gb18030",
    "iso-gb2312": "gb18030",
    "chinese": "gb18030",
    "gb_2312-80": "gb18030",
    "big5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "csshiftjis": "cp932",
    "windows-31j": "cp932",
    "euc-jp": "euc_jis_2004",
    "x-euc-jp": "euc_jis_2004",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ks_c_5601-1989": "cp949",
    "ksc5601": "cp949",
    "euc-kr": "cp949",
    "korean": "cp949",
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "iso-2022-jp": "iso-2022-jp",
    "csiso2022jp": "iso-2022-jp",
    "iso-2022-jp-1": "iso-2022-jp",
    "iso-2022-jp-2": "iso-2022-jp",
}

# One-byte charsets: when their text is also valid UTF-8 with characters
# past ASCII, the label is wrong (real Latin-1 prose is never valid UTF-8).
_SINGLE_BYTE = {"cp1252", "cp1254", "cp874"}


def codec_for(label: str | None) -> str | None:
    """The Python codec to try first for a charset label, or None."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower().split("*", 1)[0]
    if label in SUPERSETS:
        return SUPERSETS[label]
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # A label Python knows under another spelling may still have a superset.
    return SUPERSETS.get(name.replace("_", "-"), name)


# Where detection finds several charsets equally plausible (short text
# gives it little to go on), the ones mail is most often written in win.
_COMMON = ["cp1252", "gb18030", "cp932", "cp949", "big5hkscs", "cp1251", "cp1250", "koi8_r"]


def decode_text(payload: bytes, label: str | None = None, hints: tuple[str, ...] = ()) -> str:
    """Text from bytes, after the order in the module docstring. `hints`
    are the charsets labelled elsewhere in the same mail, tried before
    detection."""
    if payload.isascii() and b"\x1b" not in payload:
        return payload.decode("ascii")
    codec = codec_for(label)
    if codec and not (codec in _SINGLE_BYTE and _is_utf8(payload)):
        text = _strict(payload, codec)
        if text is not None:
            return text
    if codec != "utf-8" and _is_utf8(payload):
        return payload.decode("utf-8")
    for hint in dict.fromkeys(filter(None, map(codec_for, hints))):
        text = _strict(payload, hint) if hint not in _SINGLE_BYTE else None
        if text is not None:
            return text
    for guess in _detected(payload):
        text = _strict(payload, guess)
        if text is not None:
            return text
    return payload.decode("cp1252", errors="replace")


def _detected(payload: bytes) -> list[str]:
    """charset-normalizer's candidates, least chaotic first; ties go to the
    common mail charsets."""
    matches = list(charset_normalizer.from_bytes(payload))
    if not matches:
        return []
    least = min(match.chaos for match in matches)

    def rank(match) -> tuple:
        common = _COMMON.index(match.encoding) if match.encoding in _COMMON else len(_COMMON)
        return (match.chaos > least, common)

    return [match.encoding for match in sorted(matches, key=rank)]


def _is_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _strict(payload: bytes, codec: str) -> str | None:
    if codec == "iso-2022-jp":
        return _iso2022jp(payload)
    try:
        return payload.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


# ---------------------------------------------------------------- ISO-2022-JP

_ESCAPE = re.compile(rb"\x1b(\(B|\(J|\(I|\$@|\$B|\$\(D|\$\(Q|\$\(O)")


def _iso2022jp(payload: bytes) -> str | None:
    """ISO-2022-JP as Outlook and Windows write it (CP50220/CP50221): JIS X
    0208 plus NEC's row 13 (circled digits, units) and the NEC-selected IBM
    extensions (rows 89-92). Python's codecs refuse those; each two-byte
    run is mapped to Shift_JIS arithmetically and read as cp932, which has
    them all."""
    try:
        return payload.decode("iso2022_jp")
    except UnicodeDecodeError:
        pass
    out, mode, position = [], b"(B", 0
    for match in [*_ESCAPE.finditer(payload), None]:
        end = match.start() if match else len(payload)
        chunk = payload[position:end]
        text = _jis_chunk(chunk, mode)
        if text is None:
            return None
        out.append(text)
        if match is None:
            break
        mode, position = match.group(1), match.end()
    return "".join(out)


def _jis_chunk(chunk: bytes, mode: bytes) -> str | None:
    if not chunk:
        return ""
    if mode in (b"(B", b"(J"):
        return chunk.decode("ascii", errors="strict") if chunk.isascii() else None
    if mode == b"(I":  # half-width katakana: Shift_JIS has them at 0xA1-0xDF
        return bytes(byte | 0x80 for byte in chunk).decode("cp932", errors="strict")
    if mode in (b"$@", b"$B"):
        lines = chunk.split(b"\n")  # a two-byte run never spans a line
        sjis = bytearray()
        for index, line in enumerate(lines):
            line = line.rstrip(b"\r")
            if len(line) % 2:
                return None
            for first, second in zip(line[::2], line[1::2], strict=True):
                if not (0x21 <= first <= 0x7E and 0x21 <= second <= 0x7E):
                    return None
                sjis += _jis_to_sjis(first, second)
            if index < len(lines) - 1:
                sjis += b"\n"
        try:
            return bytes(sjis).decode("cp932")
        except UnicodeDecodeError:
            return None
    try:  # JIS X 0212 / 0213 planes: the stdlib's codecs know them
        return (b"\x1b" + mode + chunk).decode("iso2022_jp_2004")
    except UnicodeDecodeError:
        try:
            return (b"\x1b" + mode + chunk).decode("iso2022_jp_2")
        except UnicodeDecodeError:
            return None


def _jis_to_sjis(first: int, second: int) -> bytes:
    lead = ((first - 0x21) >> 1) + 0x81
    if lead > 0x9F:
        lead += 0x40
    if first % 2:
        trail = second + 0x1F
        if trail >= 0x7F:
            trail += 1
    else:
        trail = second + 0x7E
    return bytes([lead, trail])


# ---------------------------------------------------------------- headers

# RFC 2047 encoded words; whitespace between two of them is not text.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)\s+(=\?)")


def header_text(raw: str) -> str:
    """A header's text from its raw value: raw 8-bit bytes (kept by the
    parser as surrogate escapes) read as UTF-8 or detected, and encoded
    words decoded by their own labels' supersets. Adjacent encoded words in
    one charset are joined before decoding: clients split a character's
    bytes across two words."""
    raw = re.sub(r"\r?\n[ \t]", " ", raw)  # unfold
    if not raw.isascii():
        raw = decode_text(raw.encode("utf-8", errors="surrogateescape"))
    if "=?" not in raw:
        return raw.strip()
    raw = _BETWEEN_WORDS.sub(r"\1\2", raw)
    out, pending, pending_label, position = [], b"", None, 0

    def flush():
        nonlocal pending, pending_label
        if pending:
            out.append(decode_text(pending, pending_label))
        pending, pending_label = b"", None

    for match in _ENCODED_WORD.finditer(raw):
        label, kind, data = match.groups()
        word = _word_bytes(kind, data)
        if word is None:
            continue  # not a well-formed word: left as it stands
        if match.start() > position:
            flush()
            out.append(raw[position : match.start()])
        elif pending_label is not None and label.lower() != pending_label.lower():
            flush()
        pending += word
        pending_label = label
        position = match.end()
    flush()
    out.append(raw[position:])
    return "".join(out).strip()


def _word_bytes(kind: str, data: str) -> bytes | None:
    if kind in "bB":
        try:
            return base64.b64decode(data + "=" * (-len(data) % 4))
        except (binascii.Error, ValueError):
            return None
    data = data.replace("_", " ")
    return re.sub(r"=([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), data).encode(
        "latin-1", errors="replace"
    )
