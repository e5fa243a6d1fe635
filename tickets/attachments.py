"""What an attached file may be called and what it may be.

Every channel (agent composer, web form, API, mail intake) asks
`attachment_refusal` before it keeps a file, and stores the name
`attachment_name_normalised` gives. The name is normalised first, so that
the spellings Windows reads differently from how they look (a trailing dot
or space, an NTFS stream, a right-to-left override, a zero-width space) are
checked as Windows would read them; then the content is sniffed, so that a
program renamed to .pdf is refused whatever its name says.
"""

from __future__ import annotations

import re
import struct
import unicodedata

import puremagic
from django.conf import settings

# Extensions refused outright. The union of what the big mail providers
# refuse, as published:
# - Google, "File types blocked in Gmail" (support.google.com/mail/answer/6590);
# - Microsoft Defender for Office 365, the default list of the anti-malware
#   policy's common attachments filter;
# - Microsoft, "Blocked attachments in Outlook" (the Level 1 list).
# Left out on purpose: plain archives Defender lists only because it cannot
# look inside them (.arj .lha .lzh .xz .z .rev), certificates (.cer .crt .der:
# IT tickets carry them), Outlook data files (.pst), .tmp and server pages
# (.asp .aspx), none of which run when opened.
BLOCKED_EXTENSIONS = frozenset(
    {
        # Windows programs, libraries, drivers and screen savers
        "exe", "com", "scr", "pif", "cpl", "dll", "ocx", "sys", "drv", "vxd",
        "lib", "ex", "ex_", "app", "bgi", "efi",
        # other systems' programs and packages
        "elf", "macho", "kext", "apk", "xapk", "ipa", "dex", "deb", "rpm",
        # scripts and script hosts
        "bat", "cmd", "nsh", "js", "jse", "mjs", "vb", "vbe", "vbs", "vbp", "bas",
        "ws", "wsc", "wsf", "wsh", "sct", "hta", "htc", "ps1", "ps1xml", "ps2",
        "ps2xml", "psc1", "psc2", "psd1", "psm1", "pssc", "cdxml", "msh", "msh1",
        "msh2", "mshxml", "msh1xml", "msh2xml", "sh", "csh", "ksh", "pl", "py",
        "pyc", "pyo", "pyw", "pyz", "pyzw", "jar", "jnlp", "class", "applescript",
        "scpt", "command", "action", "workflow", "inf", "reg", "scf", "msc",
        "ins", "isp", "its", "job", "gadget", "vsmacros", "vsw", "xbap", "wsb",
        # installers and app packages
        "msi", "msp", "mst", "msu", "cab", "appx", "appxbundle", "msix",
        "msixbundle", "appinstaller", "application", "appref-ms", "ppkg",
        "diagcab", "diagcfg", "diagpkg", "pkg", "mpkg",
        # disk images (they carry programs past the mark-of-the-web check)
        "iso", "img", "udf", "vhd", "vhdx", "dmg", "wim", "swm", "uif", "daa",
        # shortcuts and links that open something else
        "lnk", "url", "website", "xnk", "shb", "shs", "library-ms",
        "searchconnector-ms", "settingcontent-ms", "appcontent-ms", "theme",
        "themepack", "deskthemepack", "desktopthemepackfile",
        # OneNote (embeds files that run on a click)
        "one", "onepkg",
        # Office add-ins and macro-enabled formats
        "xll", "xla", "xlam", "xlsm", "xltm", "docm", "dotm", "pptm", "potm",
        "ppsm", "ppam", "ppa", "sldm", "wll", "slk", "iqy",
        # Access databases and projects (they run VBA when opened)
        "ade", "adp", "mad", "maf", "mag", "mam", "maq", "mar", "mas", "mat",
        "mau", "mav", "maw", "mcf", "mda", "mdb", "mde", "mdt", "mdw", "mdz",
        "accde", "accdr",
        # compiled help, control and settings files
        "chm", "hlp", "hpj", "cnt", "grp", "fxp", "ops", "osd", "pcd", "plg",
        "prf", "prg", "printerexport", "webpnp", "mof", "ace",
    }
)  # fmt: skip

# Windows device names: "CON.txt" opens the console, not a file.
_RESERVED_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"}
    | {f"{device}{n}" for device in ("COM", "LPT") for n in (*"0123456789", "¹", "²", "³")}
)
# Each name fits every file system and the Attachment.filename column (255).
NAME_MAX_BYTES = 255
# Longer than this after the last dot is part of the name, not an extension.
_EXTENSION_MAX_CHARS = 16
_WINDOWS_FORBIDDEN = re.compile(r'[<>"|?*]')
# Dropped from a name: controls (tab and newline too), format characters
# (the bidi overrides and isolates U+202A-202E and U+2066-2069, the marks
# U+200E/200F, zero-width U+200B-200D and U+2060, the BOM U+FEFF, the soft
# hyphen), lone surrogates, and line and paragraph separators.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# "name::$DATA", "name:stream:$DATA": the explicit NTFS stream syntax.
_STREAM_TYPE = re.compile(r":[^:]*:\$[A-Za-z_]+$|:\$[A-Za-z_]+$")


def attachment_name_normalised(name: str | None, fallback: str = "attachment") -> str:
    """The name a file is checked and stored under: what Windows would make of it.

    Unicode NFC; NUL ends the name (as it does for the operating system);
    control and invisible formatting characters dropped; only the last path
    component kept; an NTFS stream cut off; trailing dots and spaces gone;
    characters Windows forbids replaced; device names (CON, NUL) prefixed;
    at most NAME_MAX_BYTES of UTF-8 with the extension kept; `fallback` when
    nothing is left.
    """
    text = unicodedata.normalize("NFC", str(name or "")).split("\x00", 1)[0]
    text = "".join(
        " " if char.isspace() else char
        for char in text
        if unicodedata.category(char) not in _DROPPED_CATEGORIES
    )
    text = re.sub(r"[/\\]+", "/", text).rstrip(". /").rsplit("/", 1)[-1]
    text = _stream_cut(text.strip()).rstrip(". ")
    text = _WINDOWS_FORBIDDEN.sub("_", text)
    if text.split(".", 1)[0].rstrip(" ").upper() in _RESERVED_NAMES:
        text = "_" + text
    text = _length_capped(text).rstrip(". ")
    if not text.strip("._ "):
        return fallback
    return text


def _stream_cut(name: str) -> str:
    """`name` without an NTFS alternate data stream, and with no colon left."""
    if ":" not in name:
        return name
    explicit = _STREAM_TYPE.search(name)
    if explicit:
        name = name[: explicit.start()]
    head, _, _ = name.partition(":")
    head = head.rstrip(". ")
    # "report.pdf:hidden" is report.pdf with a stream, as NTFS reads it. A
    # colon earlier in a name ("Meeting 10:30.pdf", "C:evil.exe") keeps the
    # rest, with "_" for the colon: Windows would file it as a stream of an
    # extensionless file, and the rest still gets checked.
    if explicit or "." in head.lstrip("."):
        return head
    return name.replace(":", "_")


def _length_capped(name: str) -> str:
    if len(name.encode()) <= NAME_MAX_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > _EXTENSION_MAX_CHARS:
        stem, dot, extension = name, "", ""
    budget = NAME_MAX_BYTES - len(f"{dot}{extension}".encode())
    # Cut on a character boundary, never inside a UTF-8 sequence.
    stem = stem.encode()[:budget].decode(errors="ignore").rstrip(". ")
    return f"{stem}{dot}{extension}"


def attachment_extension(name: str) -> str:
    """The extension Windows acts on, folded so that look-alikes compare equal
    (a fullwidth "．ｅｘｅ" is "exe")."""
    folded = unicodedata.normalize("NFKC", name).casefold().rstrip(". ")
    return folded.rsplit(".", 1)[1].strip() if "." in folded else ""


def _extension_blocked(extension: str) -> bool:
    # "file.txt.{3050F4D8-98B5-11CF-BB82-00AA00BDCE0B}": Windows runs a name
    # ending in a class id with that class's handler (this one is an HTA).
    return extension in BLOCKED_EXTENSIONS or (
        extension.startswith("{") and extension.endswith("}")
    )


# ---------------------------------------------------------------- content

# Enough for every signature below: ISO 9660 and UDF volume descriptors sit
# at 32 KiB plus a multiple of 2 KiB, the last one checked at 38,913.
SNIFF_BYTES = 40 * 1024

# The kinds from puremagic's signature table that we refuse, keyed by its
# extension, or by its name where it gives none. Signatures it shares with
# harmless files are not here: "MZ" alone and the Compound File header of
# .doc and .msi alike get a closer look below; the zip header of .docx and
# .jar alike is let through (a renamed .jar does not run when opened).
_SNIFFED_KINDS = {
    "ELF executable": "a Linux program",
    "OS X ABI Mach-O binary (32-bit)": "a macOS program",
    "OS X ABI Mach-O binary (64-bit)": "a macOS program",
    "OS X ABI Mach-O binary (32-bit reverse)": "a macOS program",
    "OS X ABI Mach-O binary (64-bit reverse)": "a macOS program",
    # CA FE BA BE: a Java class, or a macOS universal program.
    ".class": "a Java or macOS program",
    ".lnk": "a Windows shortcut",
    ".one": "a OneNote notebook, which can run the files inside it",
    ".cab": "a Windows cabinet (an installer archive)",
    ".iso": "a disk image",
    ".vhd": "a disk image",
    ".vhdx": "a disk image",
    ".swm": "a disk image",
    ".wim": "a disk image",
    ".chm": "a compiled Windows help file, which can run code",
}
# The Compound File root storage class ids of Windows Installer files:
# package (.msi), patch (.msp), transform (.mst). Bytes as stored on disk.
_MSI_CLASS_IDS = frozenset(
    bytes.fromhex(f"{code}100c0000000000c000000000000046") for code in ("84", "86", "82")
)
_UDF_IDENTIFIERS = (b"BEA01", b"NSR02", b"NSR03", b"TEA01")


class _Unreadable(Exception):
    pass


def attachment_content_kind(upload) -> str | None:
    """What the file really is when that is something we refuse ("a Windows
    program"), else None. Reads at most SNIFF_BYTES (and, for a compound
    file, one 128-byte directory entry); the file position is kept."""
    try:
        position = upload.tell()
    except (AttributeError, OSError, ValueError) as error:
        raise _Unreadable from error
    try:
        upload.seek(0)
        head = upload.read(SNIFF_BYTES)
        if isinstance(head, str):
            head = head.encode()
        kind = _kind_of(bytes(head), upload)
        upload.seek(position)
    except (OSError, ValueError) as error:
        raise _Unreadable from error
    return kind


def _kind_of(head: bytes, upload) -> str | None:
    if _is_windows_program(head):
        return "a Windows program"
    if head.startswith(b"#!"):
        return "a script (it starts with #!)"
    if _is_windows_installer(head, upload):
        return "a Windows installer"
    # puremagic knows ISO 9660 ("CD001"), not UDF's volume recognition
    # sequence, which a UDF-only image (no ISO 9660 bridge) starts with.
    if any(head[offset : offset + 5] in _UDF_IDENTIFIERS for offset in range(32769, 38914, 2048)):
        return "a disk image"
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        return None
    for match in matches:
        # "CD001" at the very start is not an ISO image (its descriptor sits
        # at 32 KiB, checked above); a text file may begin with it.
        if match.extension == ".iso" and match.offset == 0:
            continue
        extension = match.extension if isinstance(match.extension, str) else ""
        kind = _SNIFFED_KINDS.get(extension.lower() or match.name)
        if kind:
            return kind
    return None


def _is_windows_program(head: bytes) -> bool:
    """An MZ header whose e_lfanew points at a PE (or NE/LE/LX) header. "MZ"
    alone is not enough: plenty of text starts with those two letters."""
    if len(head) < 0x40 or not head.startswith(b"MZ"):
        return False
    (new_header,) = struct.unpack_from("<I", head, 0x3C)
    if new_header < 0x40:
        return False
    signature = head[new_header : new_header + 4]
    return signature == b"PE\0\0" or signature[:2] in (b"NE", b"LE", b"LX")


def _is_windows_installer(head: bytes, upload) -> bool:
    """A Compound File (the container of .doc, .xls, .msg and .msi alike)
    whose root storage says Windows Installer. [MS-CFB] 2.2 and 2.6.1: the
    first directory sector is named at 0x30, the root entry comes first in
    it, its class id at 0x50."""
    if len(head) < 0x34 or not head.startswith(bytes.fromhex("d0cf11e0a1b11ae1")):
        return False
    (sector_shift,) = struct.unpack_from("<H", head, 0x1E)
    (directory_sector,) = struct.unpack_from("<I", head, 0x30)
    if sector_shift not in (9, 12) or directory_sector >= 0xFFFFFFFA:
        return False
    offset = ((directory_sector + 1) << sector_shift) + 0x50
    if offset + 16 <= len(head):
        class_id = head[offset : offset + 16]
    else:
        upload.seek(offset)
        class_id = upload.read(16)
    return bytes(class_id) in _MSI_CLASS_IDS


# ---------------------------------------------------------------- the check


def attachment_refusal(upload) -> str | None:
    """Why one file cannot be kept, in words for the person who sent it, or
    None when it can. The name in the sentence is the normalised one."""
    name = attachment_name_normalised(upload.name)
    extension = attachment_extension(name)
    if _extension_blocked(extension):
        return f"{name}: .{extension} files are not accepted."
    if upload.size > settings.ATTACHMENT_MAX_BYTES:
        limit = settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)
        return f"{name} is larger than {limit} MB."
    try:
        kind = attachment_content_kind(upload)
    except _Unreadable:
        return f"{name} could not be read, so it was not kept."
    if kind:
        return (
            f"{name} is {kind}, whatever its name says; "
            "programs, scripts, installers, shortcuts and disk images are not accepted."
        )
    return None
